package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// waitingStep finds the waiting step an answer is for: step, or the only
// one waiting when step is "".
func (e *Engine) waitingStep(ctx context.Context, meta *RunMeta, step string) (*StepResult, error) {
	recs, err := e.store.LoadSteps(ctx, meta.ID)
	if err != nil {
		return nil, err
	}
	var waiting []string
	for _, p := range meta.Plan {
		if r := recs[p.ID]; r != nil && r.Status == StepWaiting {
			waiting = append(waiting, p.ID)
		}
	}
	if step == "" {
		switch len(waiting) {
		case 0:
			return nil, &UsageError{Err: fmt.Errorf("run %s has no step waiting for input (it is %s)", meta.ID, meta.Status)}
		case 1:
			return recs[waiting[0]], nil
		}
		return nil, &UsageError{Err: fmt.Errorf("run %s has %d steps waiting for input: %s; name one", meta.ID, len(waiting), strings.Join(waiting, ", "))}
	}
	if r := recs[step]; r != nil && r.Status == StepWaiting {
		return r, nil
	}
	if len(waiting) == 0 {
		return nil, &UsageError{Err: fmt.Errorf("step %q of run %s is not waiting for input, and no step is", step, meta.ID)}
	}
	return nil, &UsageError{Err: fmt.Errorf("step %q of run %s is not waiting for input; waiting: %s", step, meta.ID, strings.Join(waiting, ", "))}
}

// lockMeta resolves ref, takes the run's lock and reads its meta.
func (e *Engine) lockMeta(ctx context.Context, ref string) (*RunMeta, func(), error) {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := e.acquire(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	meta, err := e.store.LoadMeta(ctx, id)
	if err == nil {
		err = onTemporal(meta)
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return meta, unlock, nil
}

// lockWaiting takes a run's lock and finds the waiting step named (or the
// only one).
func (e *Engine) lockWaiting(ctx context.Context, ref, step string) (*RunMeta, *StepResult, func(), error) {
	if id, err := e.resolve(ctx, ref); err == nil {
		if m, err := e.store.LoadSummary(ctx, id); err == nil && m.Status == RunWaiting {
			// It went waiting a moment ago in this process (the web UI's
			// answer): its go is releasing the lease.
			e.awaitOwnRelease(ctx, id)
		}
	}
	meta, unlock, err := e.lockMeta(ctx, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err := e.waitingStep(ctx, meta, step)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return meta, r, unlock, nil
}

// Answer records the answer to a waiting step after checking it against
// the step's schema. The run stays waiting until it is resumed.
func (e *Engine) Answer(ctx context.Context, ref, step string, value json.RawMessage) (*Run, error) {
	meta, r, unlock, err := e.lockWaiting(ctx, ref, step)
	if err != nil {
		return nil, err
	}
	if r.Kind == flowspec.KindFlow && r.ChildRun != "" {
		return e.answerChild(ctx, meta, r, value, unlock)
	}
	defer unlock()
	if r.Wait != nil && len(r.Wait.Calls) > 0 {
		return e.answerCall(ctx, meta, r, value)
	}
	if r.Wait != nil && r.Wait.Deadline != nil && time.Now().After(*r.Wait.Deadline) {
		return e.expireWait(ctx, meta, r)
	}
	if err := e.recordAnswer(ctx, meta.ID, r, value); err != nil {
		return nil, err
	}
	// The run waits on until resumed, but its index must say the step is
	// answered, or a replay of it would ask again.
	return e.settle(ctx, meta, runEnd{meta.Status, meta.Ending, meta.Error})
}

// recordAnswer checks value against the schema of r, a wait step of run
// id, then completes r with it and journals it.
func (e *Engine) recordAnswer(ctx context.Context, id string, r *StepResult, value json.RawMessage) error {
	var schema map[string]any
	if r.Wait != nil {
		schema = r.Wait.Schema
	}
	plain, err := checkAnswer("the answer for step "+r.ID, schema, value)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	r.Status = StepCompleted
	r.Output = plain
	r.EndedAt = &now
	if r.StartedAt != nil {
		r.DurationMS = now.Sub(*r.StartedAt).Milliseconds()
	}
	if r.Wait == nil {
		r.Wait = &WaitInfo{}
	}
	r.Wait.Answered, r.Wait.Answer = true, plain
	r.Dir = ""
	if err := e.store.SaveStep(ctx, id, r); err != nil {
		return err
	}
	_ = e.store.AppendEvents(ctx, id, Event{Time: now, Type: EventStepFinished, RunID: id, Step: r.ID, Result: r})
	return nil
}

// checkAnswer parses an answer (what names it in errors) and checks it
// against schema (nil: any JSON), giving it as plain values.
func checkAnswer(what string, schema map[string]any, value json.RawMessage) (any, error) {
	answer, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return nil, runstore.Advise(&UsageError{Err: fmt.Errorf("%s is not JSON (%v)", what, err)}, runstore.Remedy{Do: runstore.RemedyQuoteAnswer})
	}
	if schema != nil {
		if err := validateAnswer(schema, answer); err != nil {
			return nil, &UsageError{Err: fmt.Errorf("%s does not fit its schema: %w", what, err)}
		}
	}
	// Decoded again with encoding/json so the record holds plain values.
	var plain any
	if err := json.Unmarshal(value, &plain); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("%s is not JSON: %w", what, err)}
	}
	return plain, nil
}

func validateAnswer(schema map[string]any, answer any) error {
	// The schema came from YAML; a round trip through JSON gives the
	// validator the plain JSON values it expects.
	raw, err := json.Marshal(schema)
	if err != nil {
		return fmt.Errorf("the step's schema cannot be encoded: %w", err)
	}
	// Compiled as the flow's loader compiled it: a record's schema may not
	// reach for other documents either.
	sch, err := flowspec.CompileSchema(raw)
	if err != nil {
		return fmt.Errorf("the step's schema is not valid: %w", err)
	}
	if err := sch.Validate(answer); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(strings.TrimSpace(basicReason(ve)))
		}
		return err
	}
	return nil
}

var (
	answerAtRE = regexp.MustCompile(`^at '([^']*)': `)
	gotWantRE  = regexp.MustCompile(`^got (\w+), want (.+)$`)
)

// basicReason is the validator's message without its header line.
func basicReason(ve *jsonschema.ValidationError) string {
	lines := strings.Split(strings.TrimSpace(ve.Error()), "\n")
	if len(lines) > 1 {
		lines = lines[1:]
	}
	for i, l := range lines {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		// "at '': got string, want integer" reads: "it is a string; the
		// schema wants integer" (at the answer itself), "at /n: ..." inside.
		at := ""
		if m := answerAtRE.FindStringSubmatch(l); m != nil {
			l = l[len(m[0]):]
			if m[1] != "" {
				at = "at " + m[1] + ": "
			}
		}
		lines[i] = at + gotWantRE.ReplaceAllString(l, "it is a $1; the schema wants $2")
	}
	return strings.Join(lines, "; ")
}

// expireWait fails a wait whose deadline passed before its answer came,
// then lets the run go on as after any failed step: the steps that need
// it are skipped, or run when their if: says failure() or always(), or
// run as usual when the wait has continue_on_error, so no step is left
// pending. `kitaru retry` asks the question again.
func (e *Engine) expireWait(ctx context.Context, meta *RunMeta, r *StepResult) (*Run, error) {
	msg := failExpired(r, meta.ID)
	if err := e.store.SaveStep(ctx, meta.ID, r); err != nil {
		return nil, err
	}
	expired := runstore.Advise(fmt.Errorf("step %s of run %s stopped waiting: %s", r.ID, meta.ID, msg), runstore.Remedy{Do: runstore.RemedyAskAgain, Run: meta.ID})
	f, err := e.loadFlow(ctx, meta)
	if err != nil {
		// The run's flow cannot be read to go on: it ends here, failed.
		run, serr := e.settle(ctx, meta, runEnd{RunFailed, &Ending{Code: runstore.EndWaitExpired, Step: r.ID}, &msg})
		if serr != nil {
			return nil, serr
		}
		return run, expired
	}
	run, err := e.continueRun(ctx, meta, f, 0)
	if err != nil {
		return run, err
	}
	return run, expired
}

// Abort ends a waiting run cancelled; its waiting step fails as aborted.
func (e *Engine) Abort(ctx context.Context, ref, step string) (*Run, error) {
	meta, r, unlock, err := e.lockWaiting(ctx, ref, step)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := time.Now().UTC()
	msg := "aborted at the wait step " + r.ID
	if r.Wait != nil && len(r.Wait.Calls) > 0 {
		q := r.Wait.Calls[0]
		msg = fmt.Sprintf("aborted at the question of tool %s", q.Tool)
		if q.ChildRun != "" {
			// The question is the child's a flow: tool started: that run
			// ends aborted too.
			if _, err := e.Abort(ctx, q.ChildRun, ""); err != nil {
				return nil, fmt.Errorf("its child run %s could not be aborted: %w", q.ChildRun, err)
			}
			msg = fmt.Sprintf("aborted at the question of tool %s's child run %s", q.Tool, q.ChildRun)
			if q.Tool == "" && q.Item != nil {
				msg = fmt.Sprintf("aborted at the question of item %d's child run %s", *q.Item, q.ChildRun)
			}
		}
	}
	if r.Kind == flowspec.KindFlow && r.ChildRun != "" {
		// The question is its child's: that run ends aborted too.
		if _, err := e.Abort(ctx, r.ChildRun, ""); err != nil {
			return nil, fmt.Errorf("its child run %s could not be aborted: %w", r.ChildRun, err)
		}
		msg = "aborted at the question of its child run " + r.ChildRun
	}
	r.Status, r.Error, r.EndedAt, r.Dir = StepFailed, &msg, &now, ""
	if err := e.store.SaveStep(ctx, meta.ID, r); err != nil {
		return nil, err
	}
	return e.settle(ctx, meta, runEnd{RunCancelled, &Ending{Code: runstore.EndAborted, Step: r.ID}, nil})
}

// waitExpired says whether r is a wait step's question still open past
// its timeout.
func waitExpired(r *StepResult, now time.Time) bool {
	return r.Status == StepWaiting && r.Wait != nil && !r.Wait.Answered && len(r.Wait.Calls) == 0 &&
		r.Wait.Deadline != nil && now.After(*r.Wait.Deadline)
}

// failExpired makes r, a wait whose timeout ran out, a failed step of run
// (retry asks again), and returns its error.
func failExpired(r *StepResult, run string) string {
	now := time.Now().UTC()
	msg := fmt.Sprintf("no answer before the wait's timeout ran out at %s", r.Wait.Deadline.Format(time.RFC3339))
	r.Status, r.Error, r.EndedAt, r.Dir = StepFailed, &msg, &now, ""
	r.Remedy = &runstore.Remedy{Do: runstore.RemedyAskAgain, Run: run}
	return msg
}
