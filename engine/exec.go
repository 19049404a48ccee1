package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// execution is one process's go at a run: it schedules steps whose
// dependencies are done, records each result the moment it is known, and
// ends the run completed, failed, waiting, cancelled or interrupted.
type execution struct {
	e    *Engine
	st   Store
	logs *logQueue // the run's log lines on their way to the store
	// sc is the context of the run's store calls: the run's own, without
	// its cancellation, so that a stop never cuts a record's write short.
	sc     context.Context
	flow   *flowspec.Flow
	g      *graph
	meta   *RunMeta
	caller providers.Caller
	budget *budget // nil: the run has no budget
	// outer are the budgets of a child run's parent (and theirs), which
	// it is held to too; outerHeld says one held something back in this go.
	outer     []*budget
	outerHeld atomic.Bool
	slots     slots // the run's --parallel places (see slots)
	// recording bounds the foreach items whose work is done and whose
	// record is being written, having let go of their slot (execForeach).
	recording slots
	fps       map[string]string // fingerprints of every step

	// results holds every step with a known state but the steps a replay
	// reused whose record was not read (reused): only the scheduling
	// goroutine touches them. A reused step's record is read the first
	// time a step that runs needs its output (result).
	results map[string]*StepResult
	reused  map[string]reusedStep
	// reasons say why steps of a replay run.
	reasons map[string]*Reason
	// failedUp memoizes failedUpstream; only the scheduling goroutine
	// touches it.
	failedUp map[string]string
	// itemsFrom: foreach steps of a replay that may reuse finished items
	// of an earlier run (see itemSource).
	itemsFrom map[string]itemSource
	// fresh: the meta was just created as running, no need to save it again.
	fresh bool
	// beforeSteps, when set, runs once the run has started, before its
	// first step (a replay stops what its source left running).
	beforeSteps func()

	emitMu sync.Mutex
	// artifacts are the artifact writes still under way (see Artifact).
	artifacts sync.WaitGroup
	obs       *observerQueue // nil without an Observer

	// halt stops the run's steps when a record cannot be written
	// (storeFailed); haltErr is the first such error, the run's end.
	halt    context.CancelFunc
	haltMu  sync.Mutex
	haltErr error
	// earlierMu guards meta.Earlier, which steps read and write as they end.
	earlierMu sync.Mutex

	baseRed     *redactor // see baseRedactor
	baseRedOnce sync.Once

	mcp mcpState // the flow's MCP servers, connected once a step asks

	// driven: another scheduler drives the run (see driven.go); each
	// unit makes one attempt, prior are the earlier ones it made, and
	// again is set when the driver is to try the unit again.
	driven bool
	prior  *Tries
	again  *Tries
}

func (e *Engine) newExecution(f *flowspec.Flow, meta *RunMeta, parallel int) *execution {
	g := newGraph(f)
	return e.newExecutionWith(f, g, fingerprints(f, g, meta.Inputs, nil), meta, parallel)
}

func (e *Engine) newExecutionWith(f *flowspec.Flow, g *graph, fps map[string]string, meta *RunMeta, parallel int) *execution {
	return &execution{
		e: e, st: e.store, sc: context.Background(), flow: f, g: g, fps: fps, meta: meta,
		slots: make(slots, max(1, parallel)), recording: make(slots, max(1, parallel)),
		results: make(map[string]*StepResult, len(f.Steps)), reused: map[string]reusedStep{},
	}
}

// loadRecords reads the step records a run already has (resume, retry):
// its own, and the ones a replay reused.
func (x *execution) loadRecords() error {
	recs, err := x.st.LoadSteps(x.sc, x.meta.ID)
	if err != nil {
		return err
	}
	for id, r := range recs {
		s := x.g.steps[id]
		if s == nil || r.Status == StepPending || r.Status == StepWaiting && s.Kind == flowspec.KindFlow {
			// Pending: a step whose questions were answered runs on. A
			// flow step waits as its child run does: it runs on to
			// resume the child, which may have been answered.
			continue
		}
		if waitExpired(r, time.Now()) {
			// Its timeout ran out while nobody answered: it fails, and the
			// run goes on as after any failed step (retry asks again).
			failExpired(r, x.meta.ID)
			if err := x.st.SaveStep(x.sc, x.meta.ID, r); err != nil {
				return err
			}
		}
		if s.Foreach != nil {
			items, err := x.st.LoadItems(x.sc, x.meta.ID, id)
			if err != nil {
				return err
			}
			r.Items = sortedItems(items)
		}
		x.results[id] = r
	}
	// A replay of the last step of a big run reuses all the others: steps
	// without a note of their own share their group's reason.
	n := 0
	for _, grp := range x.meta.Reused {
		n += len(grp.Steps)
	}
	x.reused = make(map[string]reusedStep, n)
	for _, grp := range x.meta.Reused {
		var shared *Reason
		for _, id := range grp.Steps {
			if _, ok := x.results[id]; ok || x.g.steps[id] == nil {
				continue
			}
			why := shared
			if _, noted := x.meta.ReuseNotes[id]; noted || why == nil {
				why = reuseReason(x.meta, id, grp.Run)
				if !noted {
					shared = why
				}
			}
			x.reused[id] = reusedStep{run: grp.Run, status: grp.Status, why: why}
		}
	}
	return nil
}

// reusedStep is a step a replay reused whose record was not read.
type reusedStep struct {
	run    string // the run holding its record
	status StepStatus
	why    *Reason // shared by the steps of a group that have no note
}

// result is the state of step id as a record without its output.
func (r reusedStep) result(s *flowspec.Step) StepResult {
	return StepResult{ID: s.ID, Kind: s.Kind, Status: r.status, Reused: true, ReusedFrom: r.run, Why: r.why}
}

// status is step id's status, if it has one.
func (x *execution) status(id string) (StepStatus, bool) {
	if r := x.results[id]; r != nil {
		return r.Status, true
	}
	if r, ok := x.reused[id]; ok {
		return r.status, true
	}
	return "", false
}

// emit journals an event and passes it to the observer, one at a time.
func (x *execution) emit(ev Event) {
	ev.Time = time.Now().UTC()
	ev.RunID = x.meta.ID
	x.emitMu.Lock()
	defer x.emitMu.Unlock()
	jev := ev
	if jev.Run != nil {
		// The journal keeps the run's summary; its steps have their own
		// records, and copying them into every run event would make the
		// journal grow with the flow's size at each start and end.
		slim := *jev.Run
		slim.Steps = nil
		jev.Run = &slim
	}
	if jev.Result != nil && (jev.Result.Output != nil || len(jev.Result.Items) > 0) {
		// Nor a step's output: its record holds it, and a big one would be
		// written (and held) twice.
		slim := *jev.Result
		slim.Output, slim.Items = nil, nil
		jev.Result = &slim
	}
	if err := x.st.AppendEvents(x.sc, x.meta.ID, jev); err != nil {
		x.e.warn(err)
	}
	x.fanOut(ev)
}

// fanOut hands an event to the Observer's queue and the subscriptions.
func (x *execution) fanOut(ev Event) {
	if x.obs != nil {
		x.obs.push(ev)
	}
	x.e.bus.publish(ev)
}

// publish fans out an ephemeral event (see ephemeral): not journaled.
func (x *execution) publish(ev Event) {
	ev.Time = time.Now().UTC()
	ev.RunID = x.meta.ID
	x.emitMu.Lock()
	defer x.emitMu.Unlock()
	x.fanOut(ev)
}

// result returns a step's result with its output loaded.
func (x *execution) result(id string) (*StepResult, error) {
	if ru, ok := x.reused[id]; ok {
		full, err := x.st.LoadStep(x.sc, ru.run, id)
		if err != nil {
			return nil, err
		}
		if full == nil {
			return nil, missingRecord(ru.run, id, x.meta.ID)
		}
		full.Reused, full.ReusedFrom, full.Why, full.Reason = true, ru.run, ru.why, ""
		x.results[id] = full
		delete(x.reused, id)
	}
	return x.results[id], nil
}

func (x *execution) scope(s *flowspec.Step) (*flowspec.Scope, error) {
	sc := &flowspec.Scope{
		Inputs: x.meta.Inputs, Steps: make(map[string]flowspec.StepState, len(s.Deps)),
		RunID: x.meta.ID, FlowName: x.flow.Name, Failed: x.failedUpstream(s) != "",
	}
	for _, d := range s.Deps {
		r, err := x.result(d)
		if err != nil {
			return nil, err
		}
		if r != nil {
			sc.Steps[d] = stepState(r)
		}
	}
	return sc, nil
}

// stepState is what expressions read of a step's result.
func stepState(r *StepResult) flowspec.StepState {
	st := flowspec.StepState{Output: r.Output, Status: string(r.Status)}
	if r.Status == StepFailed && r.Error != nil {
		st.Error = *r.Error
	}
	return st
}

// continued says whether step id failed with continue_on_error: its
// failure does not fail the run, and the steps after it run as if it had
// completed (as GitHub Actions' continue-on-error, whose step outcome is a
// failure and whose conclusion a success): success() holds for them and
// failure() does not. The flow decides rather than the record, so a replay
// of an edited flow follows the edit.
func (x *execution) continued(id string) bool {
	st, _ := x.status(id)
	s := x.g.steps[id]
	return st == StepFailed && s != nil && s.ContinueOnError
}

// failedUpstream is the first step s depends on, directly or further up
// (dependencies first, in their order), that failed without
// continue_on_error; "" when none did. As GitHub Actions' failure() of a
// job, an ancestor's failure counts, so a cleanup step at the end of a
// chain sees a failure at its start. Every step upstream of a ready step
// has its state, so the answers are kept.
func (x *execution) failedUpstream(s *flowspec.Step) string {
	if x.failedUp == nil {
		x.failedUp = map[string]string{}
	}
	for _, d := range s.Deps {
		if st, _ := x.status(d); st == StepFailed && !x.continued(d) {
			return d
		}
		f, known := x.failedUp[d]
		if !known {
			if ds := x.g.steps[d]; ds != nil {
				f = x.failedUpstream(ds)
			}
			x.failedUp[d] = f
		}
		if f != "" {
			return f
		}
	}
	return ""
}

type stepDone struct {
	id string
	r  *StepResult // nil: interrupted before it finished
	sl *slot       // the step's slot, freed once its end is journaled
}

// readyStep is a step the scheduler has decided to run.
type readyStep struct {
	id string
	s  *flowspec.Step
	sc *flowspec.Scope
}

func ok(s StepStatus) bool { return s == StepCompleted || s == StepSkipped }

// decided says whether a step's state lets the steps after it be decided:
// every end but a wait for an answer (after a failure they run, or are
// skipped with the reason, so that no step is left pending).
func decided(s StepStatus) bool { return ok(s) || s == StepFailed }

// run executes the run to its end and returns its record.
func (x *execution) run(ctx context.Context) (*Run, error) {
	// This go's share of the run's active time starts now (a new run's
	// when it was created).
	goStart := time.Now().UTC()
	if x.fresh && !x.meta.StartedAt.IsZero() {
		goStart = x.meta.StartedAt
	}
	x.sc = context.WithoutCancel(ctx)
	// First deferred, so last done: every line of this go is in the store
	// before the run's lease is let go.
	x.logs = newLogQueue(x.sc, x.st, x.meta.ID)
	defer x.logs.close()
	x.outer = parentBudgets(ctx)
	if x.e.cfg.Observer != nil && !isChild(ctx) {
		x.obs = newObserverQueue(x.e.cfg.Observer)
		defer x.obs.close()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	x.halt = stop
	x.e.track(x)
	defer x.e.untrack(x)
	defer x.closeMCP() // on every way out
	if len(x.flow.MCP) > 0 && !x.fresh {
		x.e.stopMCPLeftovers(x.sc, x.meta.ID)
	}
	var cancelled atomic.Bool
	// Only a request made since this go's lease was taken counts (one of
	// an earlier go does not), however soon after: it stops the run
	// before it starts a step.
	lease := x.e.leaseOf(x.meta.ID)
	cancelAsked := func() bool {
		asked, _ := x.st.CancelRequested(x.sc, lease)
		return asked
	}
	if lease != nil && cancelAsked() {
		cancelled.Store(true)
		stop()
	}
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-runCtx.Done():
				return
			case <-t.C:
				if lease != nil && cancelAsked() {
					cancelled.Store(true)
					stop()
					return
				}
			}
		}
	}()

	if !x.fresh {
		x.meta.Status = RunRunning
		x.meta.EndedAt = nil
		x.meta.Ending, x.meta.Error, x.meta.Remedy = nil, nil, nil
		x.meta.Output = nil
		// Steps are about to finish that the index would not name: were
		// this go killed, a replay reads the records instead.
		x.meta.Index = nil
		if err := x.st.SaveMeta(x.sc, x.meta); err != nil {
			return nil, diskFull(err, x.meta.ID)
		}
	}
	// The journal keeps only the run's summary, so the full record is
	// built only for an observer. A copy: the run's own changes as it
	// ends, and a subscriber may read the event later.
	summary := x.meta.Run
	startRec := &summary
	if x.e.cfg.Observer != nil {
		startRec = x.record()
	}
	x.emit(Event{Type: EventRunStarted, Run: startRec})
	x.startBudget()
	if x.beforeSteps != nil && runCtx.Err() == nil {
		x.beforeSteps()
	}

	frontier := plan.NewFrontier(planGraph{x.g}, func(id string) (bool, bool) {
		st, has := x.status(id)
		return has, has && decided(st)
	})
	done := make(chan stepDone)
	running := 0
	finish := func(id string, r *StepResult) {
		x.results[id] = r
		if r.Status == StepFailed && r.Error != nil {
			// The log tells the whole story of a step, its failure too.
			x.appendLog(LogLine{Time: time.Now().UTC(), Step: id, Text: "failed: " + *r.Error})
		}
		// Synced like every progress line, though the step's record
		// (written before) is what resume trusts.
		x.emit(Event{Type: EventStepFinished, Step: id, Result: r})
		frontier.Finished(id, decided(r.Status))
	}
	// launch starts a step in a goroutine of its own; sl is the slot it
	// holds (nil for a foreach step, whose items take their own).
	launch := func(id string, s *flowspec.Step, sc *flowspec.Scope, sl *slot) {
		running++
		x.emit(Event{Type: EventStepStarted, Step: id, Attempt: 1})
		go func() {
			done <- stepDone{id: id, r: x.execStepSafe(runCtx, s, sc, sl), sl: sl}
		}()
	}
	// next is a step ready to run that waits for a slot.
	var next *readyStep
	for {
		for next == nil && runCtx.Err() == nil {
			id, more := frontier.Next()
			if !more {
				break
			}
			s := x.g.steps[id]
			if r := x.decide(runCtx, s); r != nil {
				if r = x.save(r); r != nil {
					finish(id, r)
				}
				continue
			}
			sc, err := x.scope(s)
			if err != nil {
				if r := x.save(x.failed(s, time.Now(), 0, err)); r != nil {
					finish(id, r)
				}
				continue
			}
			if x.holdsModel(s) {
				continue // not started, not recorded: resume runs it
			}
			if s.Foreach != nil {
				launch(id, s, sc, nil)
				continue
			}
			next = &readyStep{id, s, sc}
		}
		if runCtx.Err() != nil || next != nil && x.holdsModel(next.s) {
			// Not started, not recorded: resume runs it.
			next = nil
		}
		if running == 0 && next == nil {
			break
		}
		// A nil channel never fires: wait for a slot only with a step
		// to give it to, and for the run's end only while waiting so.
		var free slots
		var stopped <-chan struct{}
		if next != nil {
			free, stopped = x.slots, runCtx.Done()
		}
		select {
		case free <- struct{}{}:
			launch(next.id, next.s, next.sc, x.slots.taken())
			next = nil
		case <-stopped:
		case d := <-done:
			running--
			if d.r != nil {
				finish(d.id, d.r)
			}
			// Freed only now, so the next step starts after this one's
			// end is recorded and journaled, as observers expect with N=1.
			d.sl.release()
		}
	}

	// The servers stop with the run's steps, before its end is recorded.
	x.closeMCP()
	x.artifacts.Wait()
	if err := x.haltedBy(); errors.Is(err, runstore.ErrLeaseLost) {
		// The run is someone else's now: its meta is theirs to write.
		return nil, err
	}
	end := x.verdict(ctx, cancelled.Load())
	budgetStop := false
	if be, held := x.budgetEnd(); held && end.status != RunInterrupted && end.status != RunCancelled {
		end, budgetStop = be, true
	}
	return x.conclude(end, budgetStop, goStart)
}

// conclude records how the run ended (its output when it completed), as
// the last of a go at it that started at goStart, and returns its record.
// The local run loop and a driver's end of a run (DriveFinish) both end
// runs with it.
func (x *execution) conclude(end runEnd, budgetStop bool, goStart time.Time) (*Run, error) {
	now := time.Now().UTC()
	if end.status == RunCompleted && x.flow.Output != nil {
		out, err := x.flowOutput()
		if err != nil {
			m := err.Error()
			end = runEnd{RunFailed, &Ending{Code: runstore.EndOutputFailed}, &m}
		} else {
			x.meta.Output = out
		}
	}
	status := end.status
	if status == RunCancelled {
		_ = x.st.ClearCancel(x.sc, x.meta.ID)
	}
	// The final record below is built from the meta.
	x.meta.Status, x.meta.Ending, x.meta.Error, x.meta.EndedAt = status, end.ending, end.err, &now
	x.meta.ActiveMS += max(now.Sub(goStart).Milliseconds(), 0)
	x.meta.Remedy = nil
	if h := x.haltedBy(); h != nil {
		x.meta.Remedy = runstore.RemedyOf(h)
	}
	if budgetStop {
		x.meta.Remedy = &runstore.Remedy{Do: runstore.RemedyRaiseBudget, Run: x.meta.ID, Name: end.ending.Budget.Reached}
	}
	x.earlierMu.Lock()
	for id := range x.meta.Earlier {
		// Folded into a record no retry forgets: no longer needed. A
		// failed one keeps it until the next retry reads the record.
		if st, has := x.status(id); has && ok(st) {
			delete(x.meta.Earlier, id)
		}
	}
	x.earlierMu.Unlock()
	final, err := x.finalRecord()
	if err != nil {
		return nil, err
	}
	markEnd(x.meta, end, now, x.index(), final)
	if err := x.st.SaveMeta(x.sc, x.meta); err != nil {
		// The records written so far are whole; run.json still says
		// running, so the run reads as interrupted.
		return nil, diskFull(err, x.meta.ID)
	}
	x.emit(Event{Type: EventRunFinished, Run: final})
	if err := x.haltedBy(); err != nil {
		return nil, err
	}
	return final, nil
}

// storeFailed stops the run because a record could not be written: the
// step (or item) has none, so resume runs it again once the store can be
// written; the run ends interrupted, with err (the first such) as its end.
func (x *execution) storeFailed(err error) {
	x.haltWith(unwritable(err, x.meta.ID))
}

// haltWith stops the run's steps; the run ends interrupted with err.
func (x *execution) haltWith(err error) {
	x.haltMu.Lock()
	if x.haltErr == nil {
		x.haltErr = err
	}
	x.haltMu.Unlock()
	if x.halt != nil {
		x.halt()
	}
}

func (x *execution) haltedBy() error {
	x.haltMu.Lock()
	defer x.haltMu.Unlock()
	return x.haltErr
}

// execStepSafe runs a step; a panic inside (a bug) fails the step with a
// sentence instead of killing the process and the run with it.
func (x *execution) execStepSafe(ctx context.Context, s *flowspec.Step, sc *flowspec.Scope, sl *slot) (r *StepResult) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r = x.save(x.failed(s, start, 0, fmt.Errorf("internal error while running it (please report this): %v", p)))
		}
	}()
	return x.execStep(ctx, s, sc, sl)
}

// decide handles a step that is ready before it runs: it is skipped when a
// step upstream failed or a dependency it needs was skipped (unless its
// `if` calls failure() or always(), which then decides), or when its `if`
// is false; failed when its `if` cannot be evaluated; nil means it runs.
func (x *execution) decide(ctx context.Context, s *flowspec.Step) *StepResult {
	now := time.Now().UTC()
	if !s.IfAfterFailure {
		// success() is implied.
		if f := x.failedUpstream(s); f != "" {
			return &StepResult{ID: s.ID, Kind: s.Kind, Status: StepSkipped, Why: &Reason{Code: runstore.ReasonDependencyFailed, Step: f},
				StartedAt: &now, EndedAt: &now, Fingerprint: x.fps[s.ID]}
		}
		for _, d := range s.Deps {
			if st, _ := x.status(d); st == StepSkipped && !s.IfOnlyDeps[d] {
				return &StepResult{ID: s.ID, Kind: s.Kind, Status: StepSkipped, Why: &Reason{Code: runstore.ReasonDependencySkipped, Step: d},
					StartedAt: &now, EndedAt: &now, Fingerprint: x.fps[s.ID]}
			}
		}
	}
	if s.If == nil {
		return nil
	}
	sc, err := x.scope(s)
	if err != nil {
		return x.failed(s, now, 0, err)
	}
	yes, err := s.If.Bool(sc)
	if err != nil {
		return x.failed(s, now, 0, fmt.Errorf("its `if` could not be evaluated: %w", err))
	}
	if !yes {
		return &StepResult{ID: s.ID, Kind: s.Kind, Status: StepSkipped, Why: &Reason{Code: runstore.ReasonIfFalse},
			StartedAt: &now, EndedAt: &now, Fingerprint: x.fps[s.ID]}
	}
	return nil
}

func (x *execution) failed(s *flowspec.Step, start time.Time, attempts int, err error) *StepResult {
	end := time.Now().UTC()
	start = start.UTC()
	msg := err.Error()
	return &StepResult{ID: s.ID, Kind: s.Kind, Status: StepFailed, Attempts: attempts, Error: &msg, Remedy: runstore.RemedyOf(err),
		StartedAt: &start, EndedAt: &end, DurationMS: end.Sub(start).Milliseconds(), Fingerprint: x.fps[s.ID]}
}

// verdict is how the run ended (plan.Verdict), with the error underneath:
// the failed step's, or the store's.
func (x *execution) verdict(ctx context.Context, cancelled bool) runEnd {
	stop := plan.NotStopped
	switch {
	case x.haltedBy() != nil:
		stop = plan.StoppedByStore
	case cancelled:
		stop = plan.StoppedByCancel
	case ctx.Err() != nil:
		stop = plan.StoppedByInterrupt
	}
	return x.endOf(plan.Verdict(x.g.order, x.status, x.continued, stop))
}

// endOf is an ending of plan.Verdict with the error underneath: the
// failed step's, or the store's.
func (x *execution) endOf(end plan.Ending) runEnd {
	var msg *string
	switch end.Why {
	case plan.WhyStoreFailed:
		if h := x.haltedBy(); h != nil {
			m := h.Error()
			msg = &m
		}
	case plan.WhyStepFailed:
		if r := x.results[end.Step]; r != nil {
			msg = r.Error
		}
	}
	return runEnd{end.Status, &Ending{Code: end.Why, Step: end.Step, Continued: end.Continued}, msg}
}

// planGraph is the run's graph as the scheduler reads it.
type planGraph struct{ g *graph }

func (p planGraph) Topo() []string          { return p.g.topo() }
func (p planGraph) Deps(id string) []string { return p.g.steps[id].Deps }

// Dependents gives the flow's own lists, so the frontier copies none.
func (p planGraph) Dependents(id string) []string { return p.g.flow.Dependents(id) }

func (x *execution) flowOutput() (any, error) {
	sc := &flowspec.Scope{Inputs: x.meta.Inputs, Steps: map[string]flowspec.StepState{}, RunID: x.meta.ID, FlowName: x.flow.Name}
	// Only the steps the output reads: a replay must not load every record.
	for _, id := range x.flow.Output.Refs().Steps {
		r, err := x.result(id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			sc.Steps[id] = stepState(r)
		}
	}
	return x.flow.Output.Eval(sc)
}

func (x *execution) index() map[string]IndexEntry {
	idx := make(map[string]IndexEntry, len(x.results))
	for id, r := range x.results {
		if !r.Reused {
			idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint}
		}
	}
	return idx
}

// record is the run record from what is in memory (reused outputs that
// were never needed are not loaded).
func (x *execution) record() *Run {
	run := x.meta.Run
	run.Steps = make([]StepResult, 0, len(x.g.order))
	for _, id := range x.g.order {
		if r := x.results[id]; r != nil {
			run.Steps = append(run.Steps, *r)
			continue
		}
		s := x.g.steps[id]
		if ru, ok := x.reused[id]; ok {
			run.Steps = append(run.Steps, ru.result(s))
			continue
		}
		r := StepResult{ID: id, Kind: s.Kind, Status: StepPending, Fingerprint: x.fps[id]}
		// Not recorded either way: a replay runs what did not finish.
		r.Status, r.Why = notRunNow(x.meta, r.Status)
		run.Steps = append(run.Steps, r)
	}
	totals(&run, x.meta.Earlier)
	return &run
}

// addUnrecordedItems puts into run the item records of its foreach steps
// that have none of their own yet (a stop, or the budget, ended them
// part-way), and counts what they spent in its totals.
func (x *execution) addUnrecordedItems(run *Run) {
	found := false
	for i := range run.Steps {
		s := &run.Steps[i]
		if _, reused := x.reused[s.ID]; reused || x.results[s.ID] != nil || x.g.steps[s.ID].Foreach == nil {
			continue
		}
		if items, err := x.st.LoadItems(x.sc, x.meta.ID, s.ID); err == nil && len(items) > 0 {
			s.Items, found = sortedItems(items), true
		}
	}
	if found {
		totals(run, x.meta.Earlier)
	}
}

// finalRecord is the run's record. Outputs of reused steps this go at the
// run never needed stay in their records until printed (deferredOutput).
func (x *execution) finalRecord() (*Run, error) {
	run := x.record()
	x.addUnrecordedItems(run)
	deferred := make([]deferredOutput, 0, len(x.reused))
	for i := range run.Steps {
		s := &run.Steps[i]
		if _, ok := x.reused[s.ID]; ok {
			deferred = append(deferred, deferredOutput{st: x.st, run: s.ReusedFrom, step: s.ID, replay: x.meta.ID})
			s.Output = &deferred[len(deferred)-1]
		}
	}
	return run, nil
}
