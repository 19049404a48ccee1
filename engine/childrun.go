package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// A flow step runs its sub-flow as a child run in the same store, driven
// by this engine in this process with a lease of its own and as many
// parallel places as its parent (its own, not the parent's: the step holds
// one of the parent's while the child runs). The child's id is made from
// its parent's, the step, the item and the tool call, so a resume of the
// parent after a crash finds the child run it started, and resumes it,
// rather than starting another: nothing needs recording before the child
// exists. A replay of the parent is a new run, so the flow steps it runs
// again start new children; the ones it reuses keep theirs.

// childKey is where in its parent a child run is started.
type childKey struct {
	step string
	item *int
	call string // a flow tool's call (turn and call), "" for a flow step
}

// childRunID is the id of the child run of parent at k.
func childRunID(parent string, k childKey) string {
	h := sha256.New()
	h.Write([]byte(parent + "\x00" + k.step + "\x00" + k.call + "\x00"))
	if k.item != nil {
		h.Write([]byte(strconv.Itoa(*k.item)))
	}
	sum := h.Sum(nil)
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return "kr-" + string(b)
}

// childCtxKey marks the context of a child run: its events stay in its
// journal and reach no Observer, which follows the run it was given. Its
// value is a childOf.
type childCtxKey struct{}

// childOf is what a child run takes from the go at its parent that runs
// it: the budgets it is held to (see budget.go).
type childOf struct {
	budgets []*budget
}

func isChild(ctx context.Context) bool { return ctx.Value(childCtxKey{}) != nil }

// parentBudgets are the budgets the run of ctx is held to as a child.
func parentBudgets(ctx context.Context) []*budget {
	if c, ok := ctx.Value(childCtxKey{}).(childOf); ok {
		return c.budgets
	}
	return nil
}

// flowExecutor runs flow steps.
type flowExecutor struct{ x *execution }

// Execute runs (or resumes, or retries) the unit's child run.
func (fe flowExecutor) Execute(ctx context.Context, u *work.Unit, _ work.Sink) (*work.Result, error) {
	sub := u.Step.Sub
	if sub == nil || sub.Flow == nil {
		return nil, errors.New("its sub-flow was not loaded")
	}
	given := make(map[string]any, len(sub.Inputs))
	for _, in := range sub.Inputs {
		v, err := in.Value.Eval(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("input %s of its sub-flow could not be evaluated: %w", in.Name, err)
		}
		given[in.Name] = v
	}
	res, err := fe.x.runChild(ctx, sub.Flow, given, childDir(sub, u.Dir), childKey{step: u.Step.ID, item: u.Item})
	if err != nil && res != nil {
		// A retry of the step retries the child, whose totals then count
		// this attempt's spend again: only a completed child's count.
		res.Usage, res.Cost = providers.Usage{}, nil
	}
	return res, err
}

// childDir is where a child run's commands run: its flow file's
// directory, or for a sub-flow loaded from the run's record, where its
// file was under the parent's directory.
func childDir(sub *flowspec.FlowStep, parent string) string {
	if sub.Flow.Dir != "" {
		return sub.Flow.Dir
	}
	rel := filepath.Dir(filepath.FromSlash(sub.Path))
	if filepath.IsAbs(rel) || parent == "" {
		return rel
	}
	return filepath.Join(parent, rel)
}

// childRunner runs the flow: tools of a unit's loop (work.Children).
type childRunner struct {
	x    *execution
	step string
	item *int
}

// Run runs the child run of the tool call key.
func (c childRunner) Run(ctx context.Context, sub *flowspec.FlowStep, inputs map[string]any, key string) (*work.Result, error) {
	return c.x.runChild(ctx, sub.Flow, inputs, childDir(sub, c.x.workDir()), childKey{step: c.step, item: c.item, call: key})
}

// runChild runs the child run of this run at k to its end and gives its
// output as a unit's result: started when it does not exist yet, resumed
// when it was interrupted or waits, retried when it failed, read when it
// completed. A child that waits makes the unit wait with its question.
func (x *execution) runChild(ctx context.Context, f *flowspec.Flow, given map[string]any, dir string, k childKey) (*work.Result, error) {
	e := x.e
	id := childRunID(x.meta.ID, k)
	parallel := e.parallel(x.meta.Parallel)
	cctx := context.WithValue(ctx, childCtxKey{}, childOf{budgets: x.budgets()})
	meta, err := e.store.LoadSummary(ctx, id)
	var run *Run
	switch {
	case errors.Is(err, runstore.ErrNotFound):
		inputs, berr := f.BindInputs(given)
		if berr != nil {
			return nil, fmt.Errorf("its sub-flow %s cannot take these inputs: %w", f.Name, berr)
		}
		parent := &ParentRef{Run: x.meta.ID, Step: k.step, Item: k.item, Call: k.call}
		run, err = e.startChild(cctx, StartOptions{Flow: f, Inputs: inputs, Parallel: parallel, NoCache: x.meta.NoCache}, x.meta, id, dir, parent)
	case err != nil:
		return nil, fmt.Errorf("its child run %s cannot be read: %w", id, err)
	case meta.Parent == nil || meta.Parent.Run != x.meta.ID || meta.Parent.Step != k.step || meta.Parent.Call != k.call:
		return nil, fmt.Errorf("run %s, where its child run was to be, is not its child", id)
	default:
		switch e.liveStatus(ctx, meta) {
		case RunCompleted:
			run, err = e.Get(ctx, id)
		case RunFailed:
			run, err = e.Retry(cctx, id, parallel)
		case RunCancelled:
			return &work.Result{Child: id}, fmt.Errorf("its child run %s was cancelled", id)
		default:
			run, err = e.Resume(cctx, id, parallel)
		}
	}
	res := &work.Result{Child: id}
	if err != nil {
		return res, fmt.Errorf("its child run %s: %w", id, err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	// The child's totals hold every go at it: what a call of a flow: tool
	// records (a flow step's record counts them once it completes).
	res.Usage, res.Cost = run.Usage, &run.CostUSD
	if run.CostUSD == 0 {
		res.Cost = nil
	}
	switch run.Status {
	case RunCompleted:
		res.Output = run.Output
		return res, nil
	case RunWaiting:
		res.Wait = childWait(run)
		if k.item != nil && k.call == "" {
			// An item of a flow step waits with its child's question, put
			// as one of the step's questions (as a wait tool's are): the
			// answer given to the parent goes to the child, and the
			// resume continues the child for the item's output.
			w := res.Wait
			res.Wait = &WaitInfo{Question: w.Question, Schema: w.Schema, Deadline: w.Deadline,
				Calls: []runstore.ToolQuestion{{Question: w.Question, Schema: w.Schema, Deadline: w.Deadline, ChildRun: id}}}
		}
		return res, nil
	case RunFailed:
		if err := x.childBudgetHeld(run); err != nil {
			return res, fmt.Errorf("its child run %s: %w", id, err)
		}
		where := ""
		if run.Ending != nil && run.Ending.Step != "" {
			where = " at step " + run.Ending.Step
		}
		msg := "it failed"
		if run.Error != nil {
			msg = *run.Error
		}
		return res, fmt.Errorf("its child run %s failed%s: %s", id, where, msg)
	}
	return res, fmt.Errorf("its child run %s ended %s", id, run.Status)
}

// childWait is the wait of a flow step whose child run waits: the
// question of the child's first waiting step.
func childWait(run *Run) *WaitInfo {
	for _, s := range run.Steps {
		if s.Status == StepWaiting && s.Wait != nil {
			w := *s.Wait
			w.Calls = nil
			return &w
		}
	}
	return &WaitInfo{Question: "run " + run.ID + " waits for input"}
}

// startChild starts the child run id of parent, recorded with pm: it
// resolves models with its parent's registry snapshot and
// KITARU_DEFAULT_MODEL, so a child started late in its parent's life (a
// resume, a tool call of turn 30) calls what its parent would.
func (e *Engine) startChild(ctx context.Context, opts StartOptions, pm *RunMeta, id, dir string, parent *ParentRef) (*Run, error) {
	reg, def := pm.Registry, pm.DefaultModel
	if reg == nil {
		// The parent calls no model itself and resolved none.
		var err error
		if reg, err = e.currentRegistry(opts.Flow); err != nil {
			return nil, err
		}
		def = defaultModel(reg)
	}
	return e.startAs(ctx, opts, reg, def, id, dir, parent)
}

// subFlowSources are f's sub-flows as a run's meta keeps them.
func subFlowSources(f *flowspec.Flow) map[string]string {
	srcs := f.SubFlows()
	if srcs == nil {
		return nil
	}
	out := make(map[string]string, len(srcs))
	for k, v := range srcs {
		out[k] = string(v)
	}
	return out
}

// answerChild answers, for a flow step that waits, its child run, and
// gives the parent's record: resuming the parent resumes the child.
func (e *Engine) answerChild(ctx context.Context, meta *RunMeta, r *StepResult, value []byte, unlock func()) (*Run, error) {
	unlock()
	if _, err := e.Answer(ctx, r.ChildRun, "", value); err != nil {
		return nil, err
	}
	return e.Get(ctx, meta.ID)
}
