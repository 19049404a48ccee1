// Package executors does the work of each kind of step, behind
// work.Executor: a checkpoint's command (Shell), an llm step's
// conversation, its tool loop included (Model), a checkpoint's value
// (Value) and a wait's question (Wait). The engine hands each one unit at
// a time; these know nothing of runs or stores.
package executors

import (
	"context"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
)

// For is the executor of a step, by its kind.
func For(s *flowspec.Step) (work.Executor, error) {
	switch {
	case s.Kind == flowspec.KindLLM && s.LLM != nil:
		return Model{}, nil
	case s.Kind == flowspec.KindCheckpoint && s.Checkpoint != nil && s.Checkpoint.Run != nil:
		return Shell{}, nil
	case s.Kind == flowspec.KindCheckpoint && s.Checkpoint != nil && s.Checkpoint.Value != nil:
		return Value{}, nil
	case s.Kind == flowspec.KindWait && s.Wait != nil:
		return Wait{}, nil
	}
	return nil, fmt.Errorf("step %s of kind %q has nothing to execute", s.ID, s.Kind)
}

// Value evaluates a checkpoint's value.
type Value struct{}

// Execute evaluates the value.
func (Value) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	v, err := u.Step.Checkpoint.Value.Eval(u.Scope)
	if err != nil {
		return nil, err
	}
	return &work.Result{Output: sink.MaskValue(v)}, nil
}

// Wait asks a wait step's question; the step then waits for an answer.
type Wait struct{}

// Execute renders the question and its deadline.
func (Wait) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	q := ""
	if u.Step.Wait.Question != nil {
		var err error
		if q, err = u.Step.Wait.Question.Render(u.Scope); err != nil {
			return nil, err
		}
	}
	w := &runstore.WaitInfo{Question: q, Schema: u.Step.Wait.Schema}
	if u.Step.Timeout > 0 {
		d := time.Now().UTC().Add(u.Step.Timeout)
		w.Deadline = &d
	}
	return &work.Result{Wait: w}, nil
}

// Leftover is what StopLeftovers found of a step's (or item's) previous
// attempt: process group PGID, N processes stopped, or Err why not.
type Leftover struct {
	Step string
	Item *int
	// MCP is the MCP server the group was, when it was one (its Step "").
	MCP  string
	PGID int
	N    int
	Err  error
}
