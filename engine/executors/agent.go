package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/providers"
)

// Agent runs an llm step with tools: a model call, the tool calls it asks
// for (those of one turn in parallel), their results back to the model,
// until it answers without tool calls or max_turns is reached. Each model
// turn and each tool call is saved through the sink's work.Loop the moment
// it ends, and what is saved is not done again: a resumed loop continues
// at the first turn or call without a record.
type Agent struct{}

// Execute runs the loop to its answer.
func (Agent) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	l := u.Step.LLM
	msgs, err := stepMessages(u)
	if err != nil {
		return nil, err
	}
	req := providers.Request{Model: l.Model, Messages: msgs, Temperature: l.Temperature, MaxTokens: l.MaxTokens, Tools: offered(l.Tools)}
	if data, err := json.MarshalIndent(req, "", "  "); err == nil {
		sink.Artifact("prompt", ".json", append(data, '\n'))
	}
	caller, err := callerOf(u)
	if err != nil {
		return nil, err
	}
	loop, ok := sink.(work.Loop)
	if !ok {
		loop = &memLoop{}
	}
	a := &agentRun{u: u, sink: sink, loop: loop, key: conversationKey(req)}
	recs, err := loop.LoadTurns(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read the turns recorded so far: %w", err)
	}
	a.turns = a.recorded(recs)
	res := &work.Result{}
	defer func() { res.Turns = a.list() }()
	for t := 1; ; t++ {
		if t > len(a.turns) {
			if t > l.MaxTurns {
				return res, fmt.Errorf("the model still asked for tools after %d turns, its max_turns; raise max_turns, or tell it in the prompt to answer sooner", l.MaxTurns)
			}
			turn, err := a.call(ctx, caller, req, t, res)
			if err != nil {
				return res, err
			}
			a.turns = append(a.turns, turn)
		}
		turn := a.turns[t-1]
		if len(turn.ToolCalls) == 0 {
			text := turn.Text
			sink.Artifact("response", ".txt", []byte(text))
			out, err := sink.Output(text)
			if err != nil {
				return res, err
			}
			res.Output = out
			return res, nil
		}
		if err := a.runTools(ctx, t); err != nil {
			return res, err
		}
		req.Messages = append(req.Messages, a.messages(turn)...)
	}
}

// agentRun is one attempt at a tool loop.
type agentRun struct {
	u     *work.Unit
	sink  work.Sink
	loop  work.Loop
	key   string
	mu    sync.Mutex // guards the tool calls of turns while they run
	turns []*runstore.Turn
}

// recorded rebuilds the turns of this conversation from its records: the
// turns from the first on, up to the first without a model record.
func (a *agentRun) recorded(recs []*runstore.TurnRecord) []*runstore.Turn {
	var turns []*runstore.Turn
	for _, r := range recs {
		if r.Key != a.key {
			continue
		}
		switch {
		case r.Call == 0 && r.Model != nil && r.Turn == len(turns)+1:
			t := *r.Model
			t.ToolCalls = slices.Clone(t.ToolCalls)
			turns = append(turns, &t)
		case r.Call > 0 && r.Tool != nil && r.Turn >= 1 && r.Turn <= len(turns):
			if calls := turns[r.Turn-1].ToolCalls; r.Call <= len(calls) {
				calls[r.Call-1] = *r.Tool
			}
		}
	}
	return turns
}

// list is the turns as the step's record lists them.
func (a *agentRun) list() []runstore.Turn {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]runstore.Turn, 0, len(a.turns))
	for _, t := range a.turns {
		out = append(out, *t)
	}
	return out
}

// call makes turn t's model call and records it.
func (a *agentRun) call(ctx context.Context, caller providers.Caller, req providers.Request, t int, res *work.Result) (*runstore.Turn, error) {
	start := time.Now()
	resp, err := caller.Call(ctx, req)
	creds := providers.CredentialsOf(err)
	if resp != nil {
		creds = resp.Credentials
	}
	a.sink.AddSecrets(creds)
	if err != nil {
		return nil, fmt.Errorf("turn %d: %w", t, err)
	}
	res.Model, res.Alias, res.Credential, res.Mock = resp.Model, resp.Alias, resp.CredentialSource, resp.Mock
	res.Usage = res.Usage.Add(resp.Usage)
	res.Cost = providers.AddCost(res.Cost, resp.CostUSD)
	turn := &runstore.Turn{Turn: t, Text: a.sink.Mask(resp.Text), Model: resp.Model, Usage: resp.Usage, CostUSD: resp.CostUSD,
		DurationMS: time.Since(start).Milliseconds()}
	for i, c := range resp.ToolCalls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call-%d-%d", t, i+1)
		}
		text := a.sink.Mask(c.Arguments)
		turn.ToolCalls = append(turn.ToolCalls, runstore.ToolCall{ID: id, Name: c.Name, Arguments: decodedArgs(text), ArgumentsText: text, Pending: true})
	}
	what := "answered"
	if n := len(turn.ToolCalls); n > 0 {
		what = fmt.Sprintf("asked for %d tool call(s)", n)
	}
	a.sink.Log(fmt.Sprintf("turn %d: model %s %s in %s (%d tokens in, %d out)", t, resp.Model, what, humantime.Duration(resp.Latency), resp.Usage.InputTokens, resp.Usage.OutputTokens))
	if err := a.loop.SaveTurn(ctx, &runstore.TurnRecord{Key: a.key, Turn: t, Model: turn}); err != nil {
		return nil, fmt.Errorf("the record of turn %d could not be written: %w", t, err)
	}
	return turn, nil
}

// runTools runs the tool calls of turn t that have no result yet, in
// parallel within the run's slots, recording each as it ends.
func (a *agentRun) runTools(ctx context.Context, t int) error {
	turn := a.turns[t-1]
	var fns []func()
	var saveErr error
	for i := range turn.ToolCalls {
		if !turn.ToolCalls[i].Pending {
			continue
		}
		fns = append(fns, func() {
			a.mu.Lock()
			c := turn.ToolCalls[i]
			a.mu.Unlock()
			start := time.Now()
			out, err := a.runTool(ctx, c)
			if ctx.Err() != nil {
				return // stopped: no result, it runs again
			}
			c.Pending, c.DurationMS = false, time.Since(start).Milliseconds()
			if err != nil {
				msg := a.sink.Mask(err.Error())
				c.Error = &msg
				a.sink.Log(fmt.Sprintf("turn %d: tool %s failed (the error goes back to the model): %s", t, c.Name, msg))
			} else {
				c.Output = out
			}
			err = a.loop.SaveTurn(ctx, &runstore.TurnRecord{Key: a.key, Turn: t, Call: i + 1, Tool: &c})
			a.mu.Lock()
			defer a.mu.Unlock()
			if err != nil {
				saveErr = errors.Join(saveErr, fmt.Errorf("the record of tool call %d of turn %d could not be written: %w", i+1, t, err))
				return
			}
			turn.ToolCalls[i] = c
		})
	}
	a.loop.Parallel(ctx, fns)
	if err := ctx.Err(); err != nil {
		return err
	}
	return saveErr
}

// runTool runs one call: its arguments checked against the tool's
// parameters, then the tool.
func (a *agentRun) runTool(ctx context.Context, c runstore.ToolCall) (any, error) {
	var tool *flowspec.Tool
	names := make([]string, 0, len(a.u.Step.LLM.Tools))
	for _, t := range a.u.Step.LLM.Tools {
		names = append(names, t.Name)
		if t.Name == c.Name {
			tool = t
		}
	}
	if tool == nil {
		return nil, fmt.Errorf("there is no tool %q; the tools are %s", c.Name, strings.Join(names, ", "))
	}
	var args any
	if err := json.Unmarshal([]byte(c.ArgumentsText), &args); err != nil {
		return nil, fmt.Errorf("the arguments of tool %s are not JSON (%v)", c.Name, err)
	}
	if err := tool.CheckArgs(args); err != nil {
		return nil, err
	}
	sc := &flowspec.Scope{Args: args}
	if s := a.u.Scope; s != nil {
		sc.Inputs, sc.RunID, sc.FlowName = s.Inputs, s.RunID, s.FlowName
	}
	if tool.Value != nil {
		v, err := tool.Value.Eval(sc)
		if err != nil {
			return nil, err
		}
		return a.sink.MaskValue(v), nil
	}
	tu := *a.u
	tu.Scope, tu.Item = sc, nil
	tu.Step = &flowspec.Step{ID: a.u.Step.ID, Kind: flowspec.KindCheckpoint,
		Checkpoint: &flowspec.CheckpointStep{Run: tool.Run, Env: tool.Env, MaxOutput: tool.MaxOutput}}
	res, err := Shell{}.Execute(ctx, &tu, toolSink{a.sink})
	if err != nil {
		return nil, err
	}
	return res.Output, nil
}

// toolSink is the step's sink for a tool's command: its output is text
// (the step's output: json is for the answer), and its artifacts and
// process record are the step's own, not the tool's.
type toolSink struct{ work.Sink }

func (s toolSink) Output(text string) (any, error) { return text, nil }
func (s toolSink) Artifact(string, string, []byte) {}
func (s toolSink) ProcessRecord() string           { return "" }

// messages are what turn t adds to the conversation: the model's message
// and each tool call's result.
func (a *agentRun) messages(turn *runstore.Turn) []providers.Message {
	am := providers.Message{Role: "assistant", Content: turn.Text}
	out := []providers.Message{}
	for _, c := range turn.ToolCalls {
		am.ToolCalls = append(am.ToolCalls, providers.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.ArgumentsText})
	}
	out = append(out, am)
	for _, c := range turn.ToolCalls {
		out = append(out, providers.Message{Role: "tool", ToolCallID: c.ID, Content: ToolResultText(c)})
	}
	return out
}

// ToolResultText is what the model is sent of a tool call's result: its
// output as text, or its error.
func ToolResultText(c runstore.ToolCall) string {
	if c.Error != nil {
		return "error: " + *c.Error
	}
	return flowspec.FormatValue(c.Output)
}

// offered are the step's tools as the model sees them.
func offered(ts []*flowspec.Tool) []providers.Tool {
	out := make([]providers.Tool, 0, len(ts))
	for _, t := range ts {
		out = append(out, providers.Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	return out
}

// conversationKey identifies a loop by its first request: records made
// for another (an edited prompt, other tools) are not continued.
func conversationKey(req providers.Request) string {
	req.Temperature, req.MaxTokens = nil, 0
	raw, _ := json.Marshal(req)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
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

// memLoop keeps a loop's records in memory, for a sink without a store
// behind it (an executor's own tests): its tool calls run one at a time.
type memLoop struct {
	mu   sync.Mutex
	recs []*runstore.TurnRecord
}

func (m *memLoop) LoadTurns(context.Context) ([]*runstore.TurnRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs), nil
}

func (m *memLoop) SaveTurn(_ context.Context, r *runstore.TurnRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memLoop) Parallel(ctx context.Context, fns []func()) {
	for _, fn := range fns {
		if ctx.Err() != nil {
			return
		}
		fn()
	}
}
