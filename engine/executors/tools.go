package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// runTools runs the tool calls of turn t that have no result yet, in
// parallel within the run's places (the loop's Parallel), recording each
// as it ends.
func (c *conversation) runTools(ctx context.Context, t int) error {
	turn := c.turns[t-1]
	var fns []func()
	var saveErr, downErr error
	for i := range turn.ToolCalls {
		if tc := &turn.ToolCalls[i]; !tc.Pending || tc.Waiting() && !expired(tc.Wait) {
			continue // its result is recorded, or a person is still to answer it
		}
		fns = append(fns, func() {
			c.mu.Lock()
			tc := turn.ToolCalls[i]
			c.mu.Unlock()
			start := time.Now()
			out, down, err := c.runTool(ctx, tc, fmt.Sprintf("%d.%d.%d", c.number, t, i+1))
			if ctx.Err() != nil {
				return // stopped: no result, it runs again
			}
			if down != nil {
				// Not the tool's failure but its server's (or, for a
				// flow: tool, the run's budget spent in its child): the
				// step fails or is held back, the call unrecorded, so
				// that it runs again.
				c.mu.Lock()
				downErr = errors.Join(downErr, down)
				c.mu.Unlock()
				return
			}
			tc.Pending, tc.DurationMS = false, time.Since(start).Milliseconds()
			if r, ok := out.(*work.Result); ok {
				// A flow: tool's: its output, from the child run named,
				// and what that run spent, which the step spent.
				tc.ChildRun, out = r.Child, r.Output
				if r.Usage.Total() > 0 || r.Cost != nil {
					u := r.Usage
					tc.Usage, tc.CostUSD = &u, r.Cost
				}
			}
			if w, ok := out.(*runstore.WaitInfo); ok {
				// A question: the call stays pending until it is answered.
				tc.Pending, tc.Wait, out = true, w, nil
				who := "tool " + tc.Name
				if tc.ChildRun != "" {
					who += "'s child run " + tc.ChildRun
				}
				c.sink.Log(fmt.Sprintf("turn %d: %s asks a person (the run waits for the answer): %s", t, who, w.Question))
			}
			if err != nil {
				msg := c.sink.Mask(err.Error())
				tc.Error = &msg
				c.sink.Log(fmt.Sprintf("turn %d: tool %s failed (the error goes back to the model): %s", t, tc.Name, msg))
			} else {
				tc.Output = out
			}
			err = c.save(ctx, &runstore.TurnRecord{Turn: t, Call: i + 1, Tool: &tc})
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				saveErr = errors.Join(saveErr, fmt.Errorf("the record of tool call %d of turn %d could not be written: %w", i+1, t, err))
				return
			}
			turn.ToolCalls[i] = tc
			if tc.Usage != nil {
				c.res.Usage, c.res.Cost = c.res.Usage.Add(*tc.Usage), providers.AddCost(c.res.Cost, tc.CostUSD)
			}
		})
	}
	if len(fns) == 0 {
		return nil // every call has its result recorded
	}
	c.loop.Parallel(ctx, fns)
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(downErr, saveErr)
}

// runTool runs one call: its arguments checked against the tool's
// parameters, then the tool. down is an MCP server gone (the step's
// failure); err the tool's failure, which goes back to the model.
// key names the call the same in every go at the run.
func (c *conversation) runTool(ctx context.Context, tc runstore.ToolCall, key string) (out any, down, err error) {
	of := c.tools.byName[tc.Name]
	if of == nil {
		return nil, nil, fmt.Errorf("there is no tool %q; the tools are %s", tc.Name, c.tools.names())
	}
	var args any
	if err := json.Unmarshal([]byte(tc.ArgumentsText), &args); err != nil {
		return nil, nil, fmt.Errorf("the arguments of tool %s are not JSON (%v)", tc.Name, err)
	}
	if of.local == nil {
		return c.callMCP(ctx, of, args)
	}
	out, err = c.runLocal(ctx, of.local, args, key)
	if errors.Is(err, work.ErrBudgetSpent) {
		return nil, err, nil // a flow: tool's child run held back
	}
	return out, nil, err
}

// runLocal runs a tool of the flow's tools:.
func (c *conversation) runLocal(ctx context.Context, tool *flowspec.Tool, args any, key string) (any, error) {
	if err := tool.CheckArgs(args); err != nil {
		return nil, err
	}
	if tool.Sub != nil {
		return c.runFlowTool(ctx, tool, args, key)
	}
	sc := &flowspec.Scope{Args: args}
	if s := c.u.Scope; s != nil {
		sc.Inputs, sc.RunID, sc.FlowName = s.Inputs, s.RunID, s.FlowName
	}
	if tool.Wait != nil {
		return c.ask(tool.Wait, sc)
	}
	if tool.Value != nil {
		v, err := tool.Value.Eval(sc)
		if err != nil {
			return nil, err
		}
		return c.sink.MaskValue(v), nil
	}
	tu := *c.u
	tu.Scope, tu.Item = sc, nil
	tu.Step = &flowspec.Step{ID: c.u.Step.ID, Kind: flowspec.KindCheckpoint,
		Checkpoint: &flowspec.CheckpointStep{Run: tool.Run, Env: tool.Env, MaxOutput: tool.MaxOutput}}
	res, err := Shell{}.Execute(ctx, &tu, toolSink{c.sink, key})
	if err != nil {
		return nil, err
	}
	return res.Output, nil
}

// ask puts a wait tool's question: the *runstore.WaitInfo it returns as
// the call's output says the call waits for a person's answer.
func (c *conversation) ask(w *flowspec.WaitTool, sc *flowspec.Scope) (any, error) {
	q, err := w.Question.Render(sc)
	if err != nil {
		return nil, fmt.Errorf("question: %w", err)
	}
	info := &runstore.WaitInfo{Question: c.sink.Mask(q), Schema: w.Schema}
	if w.Timeout > 0 {
		d := time.Now().UTC().Add(w.Timeout)
		info.Deadline = &d
	}
	return info, nil
}

// expired says whether a question's deadline passed: the step failed
// for it, and its retry asks again.
func expired(w *runstore.WaitInfo) bool {
	return w.Deadline != nil && time.Now().After(*w.Deadline)
}

// errWaiting ends a conversation whose turn put questions to a person.
var errWaiting = errors.New("a tool call waits for a person's answer")

// questions are the calls of the conversation still to be answered, in
// the order they are answered; nil when none is.
func (c *conversation) questions() *runstore.WaitInfo {
	var calls []runstore.ToolQuestion
	for _, t := range c.turns {
		for i, tc := range t.ToolCalls {
			if tc.Waiting() {
				calls = append(calls, runstore.ToolQuestion{Turn: t.Turn, Call: i + 1, ID: tc.ID, Tool: tc.Name,
					Question: tc.Wait.Question, Schema: tc.Wait.Schema, Deadline: tc.Wait.Deadline, ChildRun: tc.ChildRun})
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return &runstore.WaitInfo{Question: calls[0].Question, Schema: calls[0].Schema, Deadline: calls[0].Deadline, Calls: calls}
}

// toolSink is the step's sink for a tool's command: its output is text
// (the step's output: json is for the answer), its artifacts are the
// step's own, not the tool's, and its process record is the call's
// (conversation.turn.call), beside the step's: a dead kitaru's leftover
// of a call is stopped before the call runs again.
type toolSink struct {
	work.Sink
	call string
}

func (s toolSink) Output(text string) (any, error) { return text, nil }
func (s toolSink) Artifact(string, string, []byte) {}

func (s toolSink) ProcessRecord() string {
	if p := s.Sink.ProcessRecord(); p != "" {
		return p + "-call-" + s.call
	}
	return ""
}

// Capture logs at most toolCopyMax of each stream: the turn record has
// the whole output.
func (s toolSink) Capture(stream string, keep, logLimit int64, over func()) work.Capture {
	return s.Sink.Capture(stream, keep, min(logLimit, toolCopyMax), over)
}

// toolMessages are what a turn that asked for tools adds to the
// conversation: the model's message and each tool call's result.
func (c *conversation) toolMessages(turn *runstore.Turn) []providers.Message {
	am := providers.Message{Role: "assistant", Content: turn.Text}
	for _, tc := range turn.ToolCalls {
		am.ToolCalls = append(am.ToolCalls, providers.ToolCall{ID: tc.ID, Name: c.tools.wireOf(tc.Name), Arguments: tc.ArgumentsText})
	}
	out := []providers.Message{am}
	for _, tc := range turn.ToolCalls {
		out = append(out, providers.Message{Role: "tool", ToolCallID: tc.ID, Content: ToolResultText(tc)})
	}
	return out
}

// ToolResultText is what the model is sent of a tool call's result: its
// output as text, or its error.
func ToolResultText(tc runstore.ToolCall) string {
	if tc.Error != nil {
		return "error: " + *tc.Error
	}
	return flowspec.FormatValue(tc.Output)
}

// decodedArgs is the arguments as data for the record, the text itself
// when it is not JSON.
func decodedArgs(text string) any {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return text
	}
	return v
}

// runFlowTool runs a flow: tool's sub-flow as a child run, the call's
// arguments its inputs; the *work.Result it returns holds the call's
// result and the child's id.
func (c *conversation) runFlowTool(ctx context.Context, tool *flowspec.Tool, args any, key string) (any, error) {
	if c.u.Children == nil {
		return nil, fmt.Errorf("tool %s runs a sub-flow, which nothing here can run", tool.Name)
	}
	inputs, ok := args.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the arguments of tool %s must be an object of the sub-flow's inputs", tool.Name)
	}
	res, err := c.u.Children.Run(ctx, tool.Sub, inputs, key)
	if res == nil {
		return nil, err
	}
	if err == nil && res.Wait != nil {
		// The child waits for a person: so does the call, with the
		// child's question; its answer goes to the child, and the call
		// runs again to take the child's output. What the child spent is
		// counted then, in its totals, not now as well.
		w := *res.Wait
		w.Question, w.Calls = c.sink.Mask(w.Question), nil
		return &work.Result{Output: &w, Child: res.Child}, nil
	}
	// A child that failed spent too: its error goes to the model and its
	// usage to the step.
	return &work.Result{Output: c.sink.MaskValue(res.Output), Child: res.Child, Usage: res.Usage, Cost: res.Cost}, err
}
