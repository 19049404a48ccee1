package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
)

// A driven run is scheduled by something other than the run loop of
// exec.go: engine/temporal's workflow, which decides what runs when with
// package plan, as the loop does, and makes the calls below. Each call
// reads what it needs from the store and records what it did before it
// returns, so any worker process can make any of them, again after a crash:
// a step or item already recorded answers with its record. They return
// statuses, never outputs (the store has those).

// DriveSpec is what a driver needs of a run's flow to schedule it, as
// plain data (a workflow's input).
type DriveSpec struct {
	Run      string               `json:"run"`
	Topo     []string             `json:"topo"`  // the order ready steps are taken in
	Order    []string             `json:"order"` // file order, plan.Verdict's
	Steps    map[string]DriveStep `json:"steps"`
	Parallel int                  `json:"parallel"` // units (steps, items) at once
}

// DriveStep is one step of a DriveSpec.
type DriveStep struct {
	Deps            []string      `json:"deps,omitempty"`
	ContinueOnError bool          `json:"continue_on_error,omitempty"`
	Foreach         bool          `json:"foreach,omitempty"`
	Wait            bool          `json:"wait,omitempty"` // its answer comes through the driver
	Attempts        int           `json:"attempts"`
	Backoff         time.Duration `json:"backoff,omitempty"`
	Timeout         time.Duration `json:"timeout,omitempty"`
	// Status is the step's state when the spec was made ("": none yet):
	// a continued run's recorded steps.
	Status StepStatus `json:"status,omitempty"`
	// Deadline is, for a wait step recorded waiting, when its timeout
	// runs out: a workflow that continues the run counts from the wait's
	// start, not its own.
	Deadline *time.Time `json:"deadline,omitempty"`
}

// Graph is the spec's steps as the scheduler reads them.
func (d *DriveSpec) Graph() plan.Graph { return specGraph{d} }

type specGraph struct{ d *DriveSpec }

func (g specGraph) Topo() []string          { return g.d.Topo }
func (g specGraph) Deps(id string) []string { return g.d.Steps[id].Deps }

// Tries are a unit's attempts so far, carried by a driver that retries
// units itself from one attempt to the next: how many failed, and what
// they spent (their sum, without output).
type Tries struct {
	Attempts int          `json:"attempts"`
	Sum      *work.Result `json:"sum,omitempty"`
}

// StepOutcome is where a call left a step or item: its status once
// recorded, or Again when its attempt failed and the driver is to try it
// again after its backoff (nothing is recorded then).
type StepOutcome struct {
	Status StepStatus `json:"status,omitempty"`
	Again  *Tries     `json:"again,omitempty"`
	// Deadline is a waiting step's (see DriveStep.Deadline).
	Deadline *time.Time `json:"deadline,omitempty"`
}

// ForeachOutcome is how a foreach step starts: it ended at once
// (Outcome: skipped, or failed to yield its list), or it has Items items,
// of which those in Todo are to run, then DriveForeachEnd.
type ForeachOutcome struct {
	Outcome *StepOutcome `json:"outcome,omitempty"`
	Items   int          `json:"items"`
	Todo    []int        `json:"todo,omitempty"`
	Started time.Time    `json:"started"`
}

// errAgain is a unit's attempt that failed when the driver retries units
// (execution.driven): it has no record and x.again says what it spent.
var errAgain = errors.New("the attempt failed and is tried again by its driver")

// drivenBackoff is the wait before attempt a+1 a driver's retry policy
// gives: base·2^(a-1), capped at 5 minutes, without jitter (a Temporal
// retry policy has none).
func drivenBackoff(base time.Duration, a int) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base << min(a-1, 20)
	if d <= 0 || d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return d
}

// ErrDrivenBudget refuses a run with a budget (budget:, --max-cost,
// --max-tokens) that a workflow would drive: its activities do not hold
// each other to it yet, and a limit that is not kept must not look kept.
var ErrDrivenBudget = errors.New("a run with a budget (budget:, --max-cost or --max-tokens) cannot run on Temporal yet: its limits are not kept across activities")

// drivenBudgetError is ErrDrivenBudget as a caller is given it.
func drivenBudgetError() error {
	return &UsageError{Err: runstore.Advise(ErrDrivenBudget, runstore.Remedy{Do: runstore.RemedyRunHere})}
}

// CreateDriven records a new run of opts.Flow that ref's workflow drives
// (its WorkflowID, when "", becomes the run's id) and returns its spec.
// No process holds its lease: the workflow keeps its status.
func (e *Engine) CreateDriven(ctx context.Context, opts StartOptions, ref runstore.TemporalRef) (*DriveSpec, error) {
	reg, id, err := e.newRun(ctx, opts)
	if err != nil {
		return nil, err
	}
	f := opts.Flow
	meta := newMeta(opts, reg, defaultModel(reg), id, e.workDirOf(f), nil)
	if meta.Budget != nil {
		return nil, drivenBudgetError()
	}
	if ref.WorkflowID == "" {
		ref.WorkflowID = id
	}
	meta.Temporal = &ref
	if opts.Parallel <= 0 {
		meta.Parallel = e.parallel(0)
	}
	l, err := e.store.Create(ctx, meta, f.Source, e.cfg.Holder, e.leaseTTL())
	if err != nil {
		return nil, err
	}
	if err := e.store.Release(ctx, l); err != nil {
		return nil, err
	}
	x := e.newExecution(f, meta, meta.Parallel)
	x.sc = context.WithoutCancel(ctx)
	summary := meta.Run
	x.emit(Event{Type: EventRunStarted, Run: &summary})
	if opts.OnCreated != nil {
		opts.OnCreated(id)
	}
	return x.driveSpec(), nil
}

// ReplayDriven records the replay opts ask for as a run ref's workflow
// drives (see CreateDriven) and returns its spec: the steps it reuses
// and the overridden ones have their states in it. Where a foreach step
// that runs again takes finished items from is kept with the run, so its
// activities reuse them as a local replay does.
func (e *Engine) ReplayDriven(ctx context.Context, opts ReplayOptions, ref runstore.TemporalRef) (*DriveSpec, error) {
	x, _, err := e.prepareReplay(ctx, opts, &ref)
	if err != nil {
		return nil, err
	}
	x.sc = context.WithoutCancel(ctx)
	summary := x.meta.Run
	x.emit(Event{Type: EventRunStarted, Run: &summary})
	return x.driveSpec(), nil
}

// RetryDriven retries run ref in place as Retry does (failed steps, and
// those that followed them, run again), driven by ref's workflow: it
// returns the run's spec instead of running it.
func (e *Engine) RetryDriven(ctx context.Context, ref string, parallel int, tref runstore.TemporalRef, opts ...ContinueOption) (*DriveSpec, error) {
	return e.continueDriven(ctx, ref, parallel, tref, e.Retry, opts)
}

// continueDriven continues run ref with how (Retry, Resume), handing it
// to tref's workflow.
func (e *Engine) continueDriven(ctx context.Context, ref string, parallel int, tref runstore.TemporalRef,
	how func(context.Context, string, int, ...ContinueOption) (*Run, error), opts []ContinueOption) (*DriveSpec, error) {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if tref.WorkflowID == "" {
		tref.WorkflowID = id
	}
	var sp *DriveSpec
	drive := func(c *continueConfig) { c.driven, c.spec = &tref, &sp }
	run, err := how(ctx, id, parallel, append(opts, drive)...)
	if err != nil {
		return nil, err
	}
	if sp == nil {
		// Nothing to continue: it had completed, say.
		return nil, &NotContinued{Run: run}
	}
	return sp, nil
}

// NotContinued is the answer of ResumeDriven for a run that has nothing
// left to run (it completed): Run is its record.
type NotContinued struct{ Run *Run }

func (n *NotContinued) Error() string {
	return fmt.Sprintf("run %s has nothing left to run (it is %s)", n.Run.ID, n.Run.Status)
}

// handOver records the run as running again, for its workflow to drive,
// and leaves its spec in *spec.
func (x *execution) handOver(ctx context.Context, spec **DriveSpec) error {
	x.sc = context.WithoutCancel(ctx)
	x.meta.Status = RunRunning
	x.meta.EndedAt = nil
	x.meta.Ending, x.meta.Error, x.meta.Remedy = nil, nil, nil
	x.meta.Output = nil
	x.meta.Index = nil
	if x.meta.Parallel <= 0 {
		x.meta.Parallel = cap(x.slots)
	}
	// An earlier go's (a replay's) reasons and item sources are not this
	// one's: a local resume has neither.
	x.meta.Why, x.meta.ItemsFrom = nil, nil
	if len(x.reasons) > 0 {
		x.meta.Why = make(map[string]Reason, len(x.reasons))
		for id, r := range x.reasons {
			if r != nil {
				x.meta.Why[id] = *r
			}
		}
	}
	if err := x.st.SaveMeta(x.sc, x.meta); err != nil {
		return err
	}
	summary := x.meta.Run
	x.emit(Event{Type: EventRunStarted, Run: &summary})
	*spec = x.driveSpec()
	return nil
}

// DriveSpecOf is the spec of a recorded run, its recorded steps' states
// in it: what a driver continues it from.
func (e *Engine) DriveSpecOf(ctx context.Context, id string) (*DriveSpec, error) {
	x, err := e.drive(ctx, id)
	if err != nil {
		return nil, err
	}
	return x.driveSpec(), nil
}

func (x *execution) driveSpec() *DriveSpec {
	sp := &DriveSpec{Run: x.meta.ID, Topo: x.g.topo(), Order: x.g.order, Steps: make(map[string]DriveStep, len(x.flow.Steps)), Parallel: cap(x.slots)}
	for _, s := range x.flow.Steps {
		ds := DriveStep{Deps: s.Deps, ContinueOnError: s.ContinueOnError, Foreach: s.Foreach != nil,
			Wait: s.Kind == flowspec.KindWait, Attempts: max(1, s.Retry.Attempts), Backoff: s.Retry.Backoff, Timeout: s.Timeout}
		if st, has := x.status(s.ID); has {
			ds.Status = st
			ds.Deadline = waitDeadline(x.results[s.ID])
		}
		sp.Steps[s.ID] = ds
	}
	return sp
}

// drive is a go at run id for one driven call: its meta, flow and
// records read afresh.
func (e *Engine) drive(ctx context.Context, id string) (*execution, error) {
	if e.err != nil {
		return nil, e.err
	}
	meta, err := e.store.LoadMeta(ctx, id)
	if err != nil {
		return nil, err
	}
	f, err := e.loadFlow(ctx, meta)
	if err != nil {
		return nil, err
	}
	x := e.newExecution(f, meta, e.parallel(meta.Parallel))
	x.caller = e.runCaller(meta)
	x.driven = true
	x.sc = context.WithoutCancel(ctx)
	if len(meta.Why) > 0 {
		x.reasons = make(map[string]*Reason, len(meta.Why))
		for id, r := range meta.Why {
			x.reasons[id] = &r
		}
	}
	x.itemsFrom = itemsOfRecord(meta.ItemsFrom)
	if err := x.loadRecords(); err != nil {
		return nil, err
	}
	return x, nil
}

// driveStep is drive for a call about one step.
func (e *Engine) driveStep(ctx context.Context, id, step string) (*execution, *flowspec.Step, error) {
	x, err := e.drive(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s := x.g.steps[step]
	if s == nil {
		return nil, nil, fmt.Errorf("run %s has no step %q", id, step)
	}
	return x, s, nil
}

// DriveStep runs step of run id (not a foreach step: DriveForeach), one
// attempt after prior: decided first (skipped, or failed by its if), then
// run and recorded. A wait step is recorded waiting; its answer comes
// with DriveAnswer, or its timeout with DriveExpire.
func (e *Engine) DriveStep(ctx context.Context, id, step string, prior *Tries) (*StepOutcome, error) {
	x, s, err := e.driveStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	defer x.closeMCP()
	if s.Foreach != nil {
		return nil, fmt.Errorf("step %s is a foreach step: its items are driven one by one", step)
	}
	if st, has := x.status(step); has {
		// Recorded by an earlier call whose answer was lost.
		return &StepOutcome{Status: st}, nil
	}
	x.prior = prior
	if r := x.decide(ctx, s); r != nil {
		return x.driveEnd(ctx, x.save(r))
	}
	sc, err := x.scope(s)
	if err != nil {
		return x.driveEnd(ctx, x.save(x.failed(s, time.Now(), 0, err)))
	}
	if prior == nil || prior.Attempts == 0 {
		x.emit(Event{Type: EventStepStarted, Step: step, Attempt: 1})
	}
	x.slots <- struct{}{} // the go's only unit: a place is free
	sl := x.slots.taken()
	r := x.execStepSafe(ctx, s, sc, sl)
	sl.release()
	return x.driveEnd(ctx, r)
}

// driveEnd is the outcome of a driven call that ended a step with r (nil:
// not recorded), telling its end as the run loop's finish does.
func (x *execution) driveEnd(ctx context.Context, r *StepResult) (*StepOutcome, error) {
	x.artifacts.Wait()
	if err := x.haltedBy(); err != nil {
		return nil, err
	}
	if r == nil {
		if x.again != nil {
			return x.againOutcome(), nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("the step was held back and not recorded")
	}
	x.results[r.ID] = r
	if r.Status == StepFailed && r.Error != nil {
		x.appendLog(LogLine{Time: time.Now().UTC(), Step: r.ID, Text: "failed: " + *r.Error})
	}
	x.emit(Event{Type: EventStepFinished, Step: r.ID, Result: r})
	return &StepOutcome{Status: r.Status, Deadline: waitDeadline(r)}, nil
}

// waitDeadline is when the timeout of r, a waiting step's record, runs
// out; nil for any other record.
func waitDeadline(r *StepResult) *time.Time {
	if r == nil || r.Status != StepWaiting || r.Wait == nil {
		return nil
	}
	return r.Wait.Deadline
}

// DriveForeach starts foreach step of run id: decided first, then its
// list evaluated, the items a replay reuses recorded, and the items still
// to run named.
func (e *Engine) DriveForeach(ctx context.Context, id, step string) (*ForeachOutcome, error) {
	x, s, err := e.driveStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	defer x.closeMCP()
	start := time.Now().UTC()
	if st, has := x.status(step); has {
		return &ForeachOutcome{Outcome: &StepOutcome{Status: st}, Started: start}, nil
	}
	end := func(r *StepResult) (*ForeachOutcome, error) {
		out, err := x.driveEnd(ctx, r)
		if err != nil {
			return nil, err
		}
		return &ForeachOutcome{Outcome: out, Started: start}, nil
	}
	if r := x.decide(ctx, s); r != nil {
		return end(x.save(r))
	}
	fg, r, err := x.driveForeach(s, start)
	if err != nil {
		return nil, err
	}
	if fg == nil {
		return end(r)
	}
	x.emit(Event{Type: EventStepStarted, Step: step, Attempt: 1})
	out := &ForeachOutcome{Items: len(fg.list), Started: start}
	for i, it := range fg.items {
		if it == nil {
			out.Todo = append(out.Todo, i)
		}
	}
	return out, nil
}

// driveForeach prepares a go at foreach step s; a nil foreachGo means the
// step ended with r, recorded (nil: stopped, see haltedBy).
func (x *execution) driveForeach(s *flowspec.Step, start time.Time) (*foreachGo, *StepResult, error) {
	sc, err := x.scope(s)
	if err != nil {
		return nil, x.save(x.failed(s, start, 0, err)), nil
	}
	ex, err := x.executorFor(s)
	if err != nil {
		return nil, x.save(x.failed(s, start, 0, err)), nil
	}
	env, red, err := x.secrets(s)
	if err != nil {
		return nil, x.save(x.failed(s, start, 0, err)), nil
	}
	fg, r := x.prepareForeach(s, sc, ex, env, red, start)
	if fg == nil && r != nil {
		r = x.save(r)
	}
	if err := x.haltedBy(); err != nil {
		return nil, nil, err
	}
	return fg, r, nil
}

// DriveItem runs item index of foreach step of run id, one attempt after
// prior, and records it.
func (e *Engine) DriveItem(ctx context.Context, id, step string, index int, prior *Tries) (*StepOutcome, error) {
	x, s, err := e.driveStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	defer x.closeMCP()
	if s.Foreach == nil {
		return nil, fmt.Errorf("step %s is not a foreach step", step)
	}
	fg, r, err := x.driveForeach(s, time.Now())
	if err != nil {
		return nil, err
	}
	if fg == nil {
		if r != nil && r.Error != nil {
			return nil, fmt.Errorf("step %s no longer yields its items: %s", step, *r.Error)
		}
		return nil, fmt.Errorf("step %s no longer yields its items", step)
	}
	if index < 0 || index >= len(fg.list) {
		return nil, fmt.Errorf("step %s has no item %d: its foreach yields %d", step, index, len(fg.list))
	}
	if it := fg.items[index]; it != nil {
		return &StepOutcome{Status: it.Status}, nil
	}
	x.prior = prior
	x.slots <- struct{}{} // the go's only unit: a place is free
	sl := x.slots.taken()
	fg.runItem(ctx, index, sl)
	x.artifacts.Wait()
	if err := x.haltedBy(); err != nil {
		return nil, err
	}
	if it := fg.items[index]; it != nil {
		return &StepOutcome{Status: it.Status}, nil
	}
	if x.again != nil {
		return x.againOutcome(), nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("item %d of step %s was held back and not recorded", index, step)
}

// againOutcome is the outcome of a unit whose attempt failed, to be tried
// again after the driver's backoff.
func (x *execution) againOutcome() *StepOutcome {
	return &StepOutcome{Again: x.again}
}

// DriveForeachEnd ends foreach step of run id, started at started, once
// every item is recorded: completed with their outputs, or failed.
func (e *Engine) DriveForeachEnd(ctx context.Context, id, step string, started time.Time) (*StepOutcome, error) {
	x, s, err := e.driveStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	defer x.closeMCP()
	if st, has := x.status(step); has {
		return &StepOutcome{Status: st}, nil
	}
	fg, r, err := x.driveForeach(s, started)
	if err != nil {
		return nil, err
	}
	if fg == nil {
		return x.driveEnd(ctx, r)
	}
	for i, it := range fg.items {
		if it == nil {
			// Failed items are not kept as done (a resume runs them again),
			// but their record is this go's.
			it = fg.done[i]
		}
		if it == nil {
			return nil, fmt.Errorf("item %d of step %s has no record yet", i, step)
		}
		fg.items[i] = it
	}
	return x.driveEnd(ctx, x.save(fg.finish(started)))
}

// DriveAnswer answers wait step of run id with value, checked against
// its schema (a *UsageError when it does not fit: the step still waits).
// A step no longer waiting answers with its status.
func (e *Engine) DriveAnswer(ctx context.Context, id, step string, value json.RawMessage) (*StepOutcome, error) {
	r, err := e.store.LoadStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, &UsageError{Err: fmt.Errorf("step %q of run %s is not waiting for input", step, id)}
	}
	if r.Status != StepWaiting {
		return &StepOutcome{Status: r.Status}, nil
	}
	if r.Wait != nil && len(r.Wait.Calls) > 0 {
		return nil, &UsageError{Err: fmt.Errorf("step %s of run %s waits for a tool's question, which runs on Temporal cannot answer yet", r.ID, id)}
	}
	if waitExpired(r, time.Now()) {
		return e.DriveExpire(ctx, id, step)
	}
	if err := e.recordAnswer(ctx, id, r, value); err != nil {
		return nil, err
	}
	return &StepOutcome{Status: r.Status}, nil
}

// DriveExpire fails wait step of run id, whose timeout ran out unanswered
// (retry asks again); a step no longer waiting answers with its status.
func (e *Engine) DriveExpire(ctx context.Context, id, step string) (*StepOutcome, error) {
	r, err := e.store.LoadStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("step %q of run %s has no record to expire", step, id)
	}
	if r.Status != StepWaiting {
		return &StepOutcome{Status: r.Status}, nil
	}
	if r.Wait == nil {
		r.Wait = &WaitInfo{}
	}
	if r.Wait.Deadline == nil {
		now := time.Now().UTC()
		r.Wait.Deadline = &now
	}
	msg := failExpired(r, id)
	if err := e.store.SaveStep(ctx, id, r); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	_ = e.store.AppendLog(ctx, id, LogLine{Time: now, Step: step, Text: "failed: " + msg})
	_ = e.store.AppendEvents(ctx, id, Event{Time: now, Type: EventStepFinished, RunID: id, Step: step, Result: r})
	return &StepOutcome{Status: r.Status}, nil
}

// DriveMark records where a driven run that goes on stands: waiting
// (every step that can run has, and end says which step waits) or
// running again.
func (e *Engine) DriveMark(ctx context.Context, id string, end plan.Ending) error {
	meta, err := e.store.LoadMeta(ctx, id)
	if err != nil {
		return err
	}
	if ended(meta.Status) {
		return nil
	}
	switch end.Status {
	case RunWaiting:
		meta.Status, meta.Ending = RunWaiting, &Ending{Code: end.Why, Step: end.Step, Continued: end.Continued}
	default:
		meta.Status, meta.Ending = RunRunning, nil
	}
	return e.store.SaveMeta(ctx, meta)
}

// DriveFinish ends driven run id as end (plan.Verdict's) says: its
// output computed, its meta and index written, its end journaled.
func (e *Engine) DriveFinish(ctx context.Context, id string, end plan.Ending) (*Run, error) {
	x, err := e.drive(ctx, id)
	if err != nil {
		return nil, err
	}
	defer x.closeMCP()
	if ended(x.meta.Status) {
		// Finished by an earlier call whose answer was lost.
		return e.assemble(ctx, x.meta)
	}
	return x.conclude(x.endOf(end), false, x.meta.StartedAt)
}

// DriveAbandon ends driven run id, which its driver stopped driving
// without ending it: failed (code runstore.EndWorkflowFailed) or
// interrupted (EndWorkflowLost, resume continues it), msg saying why. A run
// that has ended, or is recorded interrupted already, is left as it is.
func (e *Engine) DriveAbandon(ctx context.Context, id string, code runstore.EndCode, msg string) (*Run, error) {
	meta, err := e.store.LoadMeta(ctx, id)
	if err != nil {
		return nil, err
	}
	if ended(meta.Status) || meta.Status == RunInterrupted {
		return e.assemble(ctx, meta)
	}
	status := RunFailed
	if code == runstore.EndWorkflowLost {
		status = RunInterrupted
	}
	return e.settle(ctx, meta, runEnd{status, &Ending{Code: code}, &msg})
}

// ResumeDriven resumes run ref in place as Resume does (steps that never
// finished run), driven by tref's workflow: it returns the run's spec
// instead of running it.
func (e *Engine) ResumeDriven(ctx context.Context, ref string, parallel int, tref runstore.TemporalRef, opts ...ContinueOption) (*DriveSpec, error) {
	return e.continueDriven(ctx, ref, parallel, tref, e.Resume, opts)
}

// DriveFail records step of run id failed with msg: its driver gave up
// on it (its activity's retries were spent on lost workers, say). A step
// already recorded otherwise answers with its status.
func (e *Engine) DriveFail(ctx context.Context, id, step, msg string) (*StepOutcome, error) {
	x, s, err := e.driveStep(ctx, id, step)
	if err != nil {
		return nil, err
	}
	if st, has := x.status(step); has && st != StepWaiting {
		return &StepOutcome{Status: st}, nil
	}
	return x.driveEnd(ctx, x.save(x.failed(s, time.Now(), 0, errors.New(msg))))
}

// Resolve turns a run reference ("last", an id prefix) into its id.
func (e *Engine) Resolve(ctx context.Context, ref string) (string, error) {
	return e.resolve(ctx, ref)
}

// Meta reads run id's meta.
func (e *Engine) Meta(ctx context.Context, id string) (*RunMeta, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.store.LoadMeta(ctx, id)
}

// CheckAnswer finds the waiting step of run id an answer is for (step, or
// the only one waiting when "") and checks value against its schema,
// recording nothing: a driver that answers through its workflow tells a
// refused answer at once. It returns the step's id.
func (e *Engine) CheckAnswer(ctx context.Context, id, step string, value json.RawMessage) (string, error) {
	meta, err := e.Meta(ctx, id)
	if err != nil {
		return "", err
	}
	r, err := e.waitingStep(ctx, meta, step)
	if err != nil {
		return "", err
	}
	if r.Wait != nil && len(r.Wait.Calls) > 0 {
		return "", &UsageError{Err: fmt.Errorf("step %s of run %s waits for a tool's question, which runs on Temporal cannot answer yet", r.ID, id)}
	}
	var schema map[string]any
	if r.Wait != nil {
		schema = r.Wait.Schema
	}
	if _, err := checkAnswer("the answer for step "+r.ID, schema, value); err != nil {
		return "", err
	}
	return r.ID, nil
}

// onTemporal refuses to act in this process on a run whose Temporal
// workflow may still be executing it (it has not ended, nor been recorded
// interrupted: no workflow drives it then): its answers and cancel go to
// the workflow (engine/temporal's Runner).
func onTemporal(meta *RunMeta) error {
	if meta.Temporal == nil || ended(meta.Status) || meta.Status == RunInterrupted {
		return nil
	}
	return &UsageError{Err: fmt.Errorf("run %s is executed by a Temporal workflow (namespace %s), not by this process", meta.ID, meta.Temporal.Namespace)}
}
