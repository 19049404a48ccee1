package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// An llm step whose model called kind: wait tools waits as a wait step
// does, its record's Wait listing the questions (Calls). Each answer is
// recorded as its call's result in the step's conversation; once none is
// left the step's record is set pending, and the run's resume continues
// the conversation from its records: no model turn is asked again, no
// finished tool call runs again, and the answers go to the model.

// answerCall records value as the answer to the first of r's questions
// still open: the call's turn record first (what the conversation reads),
// then the step's record.
func (e *Engine) answerCall(ctx context.Context, meta *RunMeta, r *StepResult, value json.RawMessage) (*Run, error) {
	open, err := e.openCalls(ctx, meta.ID, r)
	if err != nil {
		return nil, err
	}
	if len(open) == 0 {
		// Answered before a kitaru was killed writing the step's record.
		return e.callsAnswered(ctx, meta, r)
	}
	q, rec := open[0].q, open[0].rec
	if q.Deadline != nil && time.Now().After(*q.Deadline) {
		r.Wait.Deadline = q.Deadline
		return e.expireWait(ctx, meta, r)
	}
	if rec == nil {
		// A foreach item's child run asked (no conversation holds the
		// question): the answer is the child's, and the item runs again
		// on resume, resuming the child.
		if _, err := e.Answer(ctx, q.ChildRun, open[0].childStep, value); err != nil {
			return nil, err
		}
		_ = e.store.AppendLog(ctx, meta.ID, LogLine{Time: time.Now().UTC(), Step: r.ID,
			Text: fmt.Sprintf("item %d: its child run %s was answered", *q.Item, q.ChildRun)})
		return e.nextQuestion(ctx, meta, r, open)
	}
	plain, err := checkAnswer(fmt.Sprintf("the answer to tool %s's question (step %s)", q.Tool, r.ID), q.Schema, value)
	if err != nil {
		return nil, err
	}
	tc := *rec.Tool
	w := *tc.Wait
	w.Answered, w.Answer = true, plain
	tc.Wait, tc.Pending, tc.Output = &w, false, plain
	if tc.ChildRun != "" {
		// A flow: tool's child asked: the answer is the child's, and the
		// call stays pending, to run again (resuming the child) for the
		// child's output.
		if err := e.answerChildCall(ctx, tc.ChildRun, value); err != nil {
			return nil, err
		}
		tc.Pending, tc.Output = true, nil
	}
	answered := &runstore.TurnRecord{Conversation: rec.Conversation, Key: rec.Key, Turn: rec.Turn, Call: rec.Call, Item: q.Item, Tool: &tc}
	if err := e.store.SaveTurn(ctx, meta.ID, r.ID, answered); err != nil {
		return nil, fmt.Errorf("the answer to tool %s's question could not be recorded: %w", q.Tool, err)
	}
	_ = e.store.AppendLog(ctx, meta.ID, LogLine{Time: time.Now().UTC(), Step: r.ID,
		Text: fmt.Sprintf("turn %d: tool %s was answered (call %s)", q.Turn, q.Tool, q.ID)})
	turns := &r.Turns
	if q.Item != nil {
		turns = nil
		for i := range r.Items {
			if r.Items[i].Index == *q.Item {
				turns = &r.Items[i].Turns
			}
		}
	}
	if t := q.Turn - 1; turns != nil && t < len(*turns) && q.Call-1 < len((*turns)[t].ToolCalls) {
		(*turns)[t].ToolCalls[q.Call-1] = tc
	}
	return e.nextQuestion(ctx, meta, r, open)
}

// nextQuestion records r, whose first open question was just answered,
// waiting on the rest, or pending once none is left.
func (e *Engine) nextQuestion(ctx context.Context, meta *RunMeta, r *StepResult, open []openCall) (*Run, error) {
	if len(open) == 1 {
		return e.callsAnswered(ctx, meta, r)
	}
	calls := make([]runstore.ToolQuestion, 0, len(open)-1)
	for _, o := range open[1:] {
		calls = append(calls, o.q)
	}
	r.Wait = &WaitInfo{Question: calls[0].Question, Schema: calls[0].Schema, Deadline: calls[0].Deadline, Calls: calls}
	if err := e.store.SaveStep(ctx, meta.ID, r); err != nil {
		return nil, err
	}
	return e.settle(ctx, meta, runEnd{meta.Status, meta.Ending, meta.Error})
}

// openCall is a question of a step with the record of its call, or for
// a foreach item's child run (no record), the child's step that asks.
type openCall struct {
	q         runstore.ToolQuestion
	rec       *runstore.TurnRecord
	childStep string
}

// openCalls are r's questions whose calls' records say no answer yet, in
// order.
func (e *Engine) openCalls(ctx context.Context, id string, r *StepResult) ([]openCall, error) {
	// The conversation of the step, or of each item that asked.
	type conv struct {
		recs []*runstore.TurnRecord
		last int
	}
	convs := map[int]*conv{} // by item; -1 the step's own
	var out []openCall
	for _, q := range r.Wait.Calls {
		if q.Turn == 0 && q.ChildRun != "" && q.Item != nil {
			// A foreach item's child run asked: open while the child
			// has a question unanswered.
			step, err := e.childWaitingStep(ctx, q.ChildRun)
			if err != nil {
				return nil, err
			}
			if step != "" {
				out = append(out, openCall{q: q, childStep: step})
			}
			continue
		}
		k := -1
		if q.Item != nil {
			k = *q.Item
		}
		c := convs[k]
		if c == nil {
			recs, err := e.store.LoadTurns(ctx, id, r.ID, q.Item)
			if err != nil {
				return nil, fmt.Errorf("cannot read the conversation of step %s: %w", r.ID, err)
			}
			c = &conv{recs: recs}
			for _, rec := range recs {
				c.last = max(c.last, rec.Conversation)
			}
			convs[k] = c
		}
		recs, last := c.recs, c.last
		for _, rec := range recs {
			if rec.Conversation == last && rec.Turn == q.Turn && rec.Call == q.Call && rec.Tool != nil && rec.Tool.ID == q.ID && rec.Tool.Waiting() {
				out = append(out, openCall{q: q, rec: rec})
			}
		}
	}
	return out, nil
}

// callsAnswered sets the record of a step whose questions are all
// answered pending: the run's resume runs it again, continuing its
// conversation.
func (e *Engine) callsAnswered(ctx context.Context, meta *RunMeta, r *StepResult) (*Run, error) {
	r.Status, r.Wait, r.Output, r.Dir = StepPending, nil, nil, ""
	if err := e.store.SaveStep(ctx, meta.ID, r); err != nil {
		return nil, err
	}
	return e.settle(ctx, meta, runEnd{meta.Status, meta.Ending, meta.Error})
}

// answerChildCall gives a flow: tool's waiting child run the answer to its
// question (its first waiting step's). A child no longer waiting on one
// took an earlier answer already (a kitaru killed before the call's
// record said so): nothing is answered twice.
func (e *Engine) answerChildCall(ctx context.Context, child string, value json.RawMessage) error {
	step, err := e.childWaitingStep(ctx, child)
	if err != nil || step == "" {
		return err
	}
	if _, err := e.Answer(ctx, child, step, value); err != nil {
		return err
	}
	return nil
}

// childWaitingStep is the first waiting step of run child, "" when none
// waits.
func (e *Engine) childWaitingStep(ctx context.Context, child string) (string, error) {
	run, err := e.Get(ctx, child)
	if err != nil {
		return "", fmt.Errorf("its child run %s cannot be read: %w", child, err)
	}
	for _, s := range run.Steps {
		if s.Status == StepWaiting {
			return s.ID, nil
		}
	}
	return "", nil
}
