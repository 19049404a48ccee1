package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// Engine runs flows durably over a Store. It implements Runner.
//
// Delivery is at least once per step: a step's record is written the moment
// it finishes, and a finished step is never run again by resume, retry or a
// replay that reuses it. A step that was running when its process died (kill
// -9, power loss) has no record, so resume runs it again from the start:
// steps with side effects should be safe to repeat. What its command left
// running (its process group, orphaned by a kill -9) is stopped first.
type Engine struct {
	cfg   Config
	store Store
	err   error // why the engine cannot work (no store)
	bus   bus   // subscriptions to the runs it executes

	runMu   sync.Mutex
	running map[string]*execution      // the runs it executes now, by id
	leases  map[string]*runstore.Lease // the leases it holds, by run id
}

var _ Runner = (*Engine)(nil)

// New makes an Engine over cfg.Store.
func New(cfg Config) *Engine {
	e := &Engine{cfg: cfg, store: cfg.Store}
	if e.store == nil {
		e.err = errors.New("the engine was given no run store")
	}
	return e
}

// Store is the store the engine keeps runs in.
func (e *Engine) Store() Store { return e.store }

func (e *Engine) parallel(n int) int {
	if n <= 0 {
		n = e.cfg.Parallel
	}
	if n <= 0 {
		n = 8
	}
	return n
}

func planOf(f *flowspec.Flow) []PlanStep {
	p := make([]PlanStep, 0, len(f.Steps))
	for _, s := range f.Steps {
		p = append(p, PlanStep{ID: s.ID, Kind: s.Kind, Foreach: s.Foreach != nil})
	}
	return p
}

func hasLLM(f *flowspec.Flow) bool {
	for _, s := range f.Steps {
		if s.Kind == flowspec.KindLLM {
			return true
		}
	}
	return false
}

// currentRegistry is the registry a new run resolves with; nil without
// Models. Its error matters only to flows that call models.
func (e *Engine) currentRegistry(f *flowspec.Flow) (*providers.Registry, error) {
	if e.cfg.Models == nil {
		return nil, nil
	}
	reg, err := e.cfg.Models.Current()
	if err != nil {
		if hasLLM(f) {
			return nil, fmt.Errorf("cannot read the model registry: %w", err)
		}
		return nil, nil
	}
	return &reg, nil
}

// defaultModel is KITARU_DEFAULT_MODEL now, as a run that resolves with
// reg records it beside it (nil without reg: no model is resolved).
func defaultModel(reg *providers.Registry) *string {
	if reg == nil {
		return nil
	}
	v := providers.DefaultModelEnv(nil)
	return &v
}

// fillRegistry adds to a continued run's snapshot the aliases (and default)
// it lacks from the current registry. The run never resolved those, so no
// step switches models; it is what makes "register the alias, then
// `kitaru retry`" work. The run saves its meta, snapshot included, as it
// starts again, so later continuations keep what this one used.
func (e *Engine) fillRegistry(meta *RunMeta) {
	if meta.Registry == nil || e.cfg.Models == nil {
		return
	}
	cur, err := e.cfg.Models.Current()
	if err != nil {
		return
	}
	merged := providers.Merge(*meta.Registry, cur)
	meta.Registry = &merged
}

// caller is the model caller for a registry snapshot.
// pinnedDefault is a run's caller whose calls resolve with the
// KITARU_DEFAULT_MODEL the run recorded, not the variable now.
type pinnedDefault struct {
	next providers.Caller
	def  string
}

func (c pinnedDefault) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	req.DefaultModel = &c.def
	return c.next.Call(ctx, req)
}

func (c pinnedDefault) Target(req providers.Request) (providers.Target, bool) {
	req.DefaultModel = &c.def
	return providers.TargetOf(c.next, req)
}

// runCaller is the caller of a run recorded with meta: pinned to its
// KITARU_DEFAULT_MODEL when the record keeps it (older ones do not).
func (e *Engine) runCaller(meta *RunMeta) providers.Caller {
	c := e.caller(meta.Registry)
	if c == nil || meta.DefaultModel == nil {
		return c
	}
	return pinnedDefault{next: c, def: *meta.DefaultModel}
}

func (e *Engine) caller(reg *providers.Registry) providers.Caller {
	if e.cfg.Models == nil {
		return nil
	}
	if reg == nil {
		r, err := e.cfg.Models.Current()
		if err != nil {
			return nil
		}
		reg = &r
	}
	return e.cfg.Models.Caller(*reg)
}

// Start runs a new flow run to its end (completed, failed, waiting,
// cancelled or interrupted) and returns its record. Only problems with the
// request or the store are errors; a failed run is not.
func (e *Engine) Start(ctx context.Context, opts StartOptions) (*Run, error) {
	if opts.Detach {
		return nil, &UsageError{Err: errors.New("a run can be detached only when it runs on Temporal (KITARU_TEMPORAL_ADDRESS): here it runs in this process")}
	}
	reg, id, err := e.newRun(ctx, opts)
	if err != nil {
		return nil, err
	}
	return e.startAs(ctx, opts, reg, defaultModel(reg), id, e.workDirOf(opts.Flow), nil)
}

// newRun checks a request for a new run and gives it the registry it
// resolves with and an id.
func (e *Engine) newRun(ctx context.Context, opts StartOptions) (*providers.Registry, string, error) {
	if e.err != nil {
		return nil, "", e.err
	}
	if opts.Flow == nil {
		return nil, "", &UsageError{Err: errors.New("no flow to run")}
	}
	reg, err := e.currentRegistry(opts.Flow)
	if err != nil {
		return nil, "", err
	}
	id, err := e.store.NewID(ctx)
	if err != nil {
		return nil, "", err
	}
	return reg, id, nil
}

// startAs starts run id of opts.Flow, resolving models with reg and def
// (KITARU_DEFAULT_MODEL), working in dir; parent is set for a child run
// (see childrun.go).
func (e *Engine) startAs(ctx context.Context, opts StartOptions, reg *providers.Registry, def *string, id, dir string, parent *ParentRef) (*Run, error) {
	f := opts.Flow
	meta := newMeta(opts, reg, def, id, dir, parent)
	unlock, err := e.createTold(ctx, meta, f.Source, opts.OnCreated)
	if err != nil {
		return nil, err
	}
	defer unlock()
	x := e.newExecution(f, meta, e.parallel(opts.Parallel))
	x.caller = e.runCaller(meta)
	x.fresh = true
	return x.run(ctx)
}

// newMeta is the meta of a new run id of opts.Flow (see startAs).
func newMeta(opts StartOptions, reg *providers.Registry, def *string, id, dir string, parent *ParentRef) *RunMeta {
	f := opts.Flow
	inputs := opts.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	meta := &RunMeta{
		Run: Run{
			ID: id, Flow: f.Name, Status: RunRunning, Inputs: inputs,
			FlowFile: f.File, StartedAt: time.Now().UTC(), Registry: reg,
			WorkDir: dir, Parent: parent,
		},
		Parallel:     opts.Parallel,
		DefaultModel: def,
		Plan:         planOf(f),
		SubFlows:     subFlowSources(f),
	}
	meta.Budget = budgetOf(f.Budget.Over(opts.Budget))
	meta.NoCache = opts.NoCache
	return meta
}

// resolve turns a run reference into an id (see runstore.Resolve).
func (e *Engine) resolve(ctx context.Context, ref string) (string, error) {
	if e.err != nil {
		return "", e.err
	}
	id, err := runstore.Resolve(ctx, e.store, ref)
	var amb *runstore.AmbiguousError
	if errors.Is(err, runstore.ErrNoRef) || errors.As(err, &amb) {
		return "", &UsageError{Err: err}
	}
	return id, err
}

// createLocked creates a run already leased to this engine: nobody ever
// sees it running without a holder (which would read as interrupted).
func (e *Engine) createLocked(ctx context.Context, meta *RunMeta, src []byte) (unlock func(), err error) {
	l, err := e.store.Create(ctx, meta, src, e.cfg.Holder, e.leaseTTL())
	hook("create:done", "")
	if err != nil {
		if d := diskFull(err, meta.ID); d != err {
			return nil, fmt.Errorf("cannot create the run, the disk is full (nothing was recorded: free some space and start it again): %w", err)
		}
		return nil, err
	}
	return e.keep(l), nil
}

// createTold is createLocked, then tells onCreated (when set) the new
// run's id.
func (e *Engine) createTold(ctx context.Context, meta *RunMeta, src []byte, onCreated func(string)) (unlock func(), err error) {
	unlock, err = e.createLocked(ctx, meta, src)
	if err != nil {
		return nil, err
	}
	if onCreated != nil {
		onCreated(meta.ID)
	}
	return unlock, nil
}

// open resolves ref, leases the run and loads its meta and flow.
func (e *Engine) open(ctx context.Context, ref string) (meta *RunMeta, f *flowspec.Flow, unlock func(), err error) {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	release, err := e.acquire(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		// Not unlock: the error returns below set it to nil.
		if err != nil {
			release()
		}
	}()
	meta, err = e.store.LoadMeta(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := onTemporal(meta); err != nil {
		return nil, nil, nil, err
	}
	f, err = e.loadFlow(ctx, meta)
	if err != nil {
		return nil, nil, nil, err
	}
	return meta, f, release, nil
}

func (e *Engine) loadFlow(ctx context.Context, meta *RunMeta) (*flowspec.Flow, error) {
	src, err := e.store.FlowSource(ctx, meta.ID)
	if err != nil {
		return nil, err
	}
	file := meta.FlowFile
	if file == "" {
		file = meta.Flow + ".yaml"
	}
	f, err := parseFlow(file, src, meta.SubFlows)
	if err != nil {
		return nil, e.damaged(meta.ID, runstore.PartFlow, fmt.Sprintf("(the run's flow snapshot) no longer loads: %v", err))
	}
	if meta.Plan != nil && !samePlan(meta.Plan, f) {
		return nil, e.damaged(meta.ID, runstore.PartPlan, "is damaged (its steps are not those of the run's flow snapshot)")
	}
	return f, nil
}

// samePlan says whether plan lists f's steps, as planOf made it.
func samePlan(plan []PlanStep, f *flowspec.Flow) bool {
	if len(plan) != len(f.Steps) {
		return false
	}
	for i, s := range f.Steps {
		if plan[i].ID != s.ID {
			return false
		}
	}
	return true
}

// Resume continues, in place, a run that was interrupted or is waiting:
// finished steps are kept, steps that never finished run (again).
func (e *Engine) Resume(ctx context.Context, ref string, parallel int, opts ...ContinueOption) (*Run, error) {
	// A completed run never changes again: it is shown without taking its
	// lease, which the process that completed it may still be releasing.
	if id, err := e.resolve(ctx, ref); err == nil {
		if meta, err := e.store.LoadMeta(ctx, id); err == nil && meta.Status == RunCompleted {
			return e.assemble(ctx, meta)
		}
	}
	meta, f, unlock, err := e.open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch meta.Status {
	case RunCompleted:
		return e.assemble(ctx, meta)
	case RunFailed:
		if meta.Ending != nil && meta.Ending.Code == runstore.EndBudgetExceeded {
			return e.retryOpen(ctx, meta, f, parallel, opts)
		}
		return nil, runstore.Advise(&UsageError{Err: fmt.Errorf("run %s failed", meta.ID)}, runstore.Remedy{Do: runstore.RemedyRetry, Run: meta.ID})
	case RunCancelled:
		return nil, errCancelled(meta.ID)
	}
	return e.continueRun(ctx, meta, f, parallel, opts...)
}

func errNothingToCancel(id string, st RunStatus) error {
	return &UsageError{Err: fmt.Errorf("run %s has already ended (it is %s); there is nothing to cancel", id, st)}
}

func errCancelled(id string) error {
	return runstore.Advise(&UsageError{Err: fmt.Errorf("run %s was cancelled", id)}, runstore.Remedy{Do: runstore.RemedyReplay, Run: id})
}

// Retry continues, in place, a failed (or interrupted) run: failed steps and
// steps that never ran run again; finished ones are kept.
func (e *Engine) Retry(ctx context.Context, ref string, parallel int, opts ...ContinueOption) (*Run, error) {
	// Completed and cancelled are final: said from the record, without
	// the lease the process that ended the run may still be releasing.
	if id, err := e.resolve(ctx, ref); err == nil {
		if meta, err := e.store.LoadMeta(ctx, id); err == nil {
			if err := notRetried(meta); err != nil {
				return nil, err
			}
			if meta.Status == RunFailed {
				// Failed a moment ago in this process (the web UI's retry
				// button): its go is releasing the lease.
				e.awaitOwnRelease(ctx, id)
			}
		}
	}
	meta, f, unlock, err := e.open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := notRetried(meta); err != nil {
		return nil, err
	}
	return e.retryOpen(ctx, meta, f, parallel, opts)
}

// notRetried is why a run cannot be retried: it completed, or was
// cancelled; nil otherwise.
func notRetried(meta *RunMeta) error {
	switch meta.Status {
	case RunCompleted:
		return runstore.Advise(&UsageError{Err: fmt.Errorf("run %s completed; there is nothing to retry", meta.ID)}, runstore.Remedy{Do: runstore.RemedyReplay, Run: meta.ID})
	case RunCancelled:
		return errCancelled(meta.ID)
	}
	return nil
}

// retryOpen is Retry of a run already opened.
func (e *Engine) retryOpen(ctx context.Context, meta *RunMeta, f *flowspec.Flow, parallel int, opts []ContinueOption) (*Run, error) {
	var cc continueConfig
	for _, o := range opts {
		o(&cc)
	}
	if cc.flow != nil {
		return e.retryEdited(ctx, meta, f, cc.flow, parallel, opts)
	}
	recs, err := e.store.LoadSteps(ctx, meta.ID)
	if err != nil {
		return nil, err
	}
	forget := retried(f, recs)
	// What the forgotten steps spent is kept in the meta before their
	// records go, so the next record of each still counts it. A foreach
	// step's items keep their own records, and their spend with them.
	kept := false
	for id, r := range recs {
		if !forget[id] || r.Kind == flowspec.KindWait || planForeach(meta.Plan, id) {
			continue
		}
		if sp := spendOf(r.Attempts, r.Error, r.DurationMS, r.Usage, r.CostUSD, r.AttemptsDetail); spentAny(sp) {
			if meta.Earlier == nil {
				meta.Earlier = map[string]Spend{}
			}
			meta.Earlier[id], kept = sp, true
		}
	}
	if kept {
		if err := e.store.SaveMeta(ctx, meta); err != nil {
			return nil, err
		}
	}
	for id := range recs {
		if forget[id] {
			if err := e.store.ForgetStep(ctx, meta.ID, id); err != nil {
				return nil, err
			}
		}
	}
	return e.continueRun(ctx, meta, f, parallel, opts...)
}

// retried are the recorded steps a retry runs again: those that failed,
// but for the failures continue_on_error let pass (as a completed run's,
// which has nothing to retry), and every recorded step after them, which
// ran or was skipped because of how they ended (a failure() cleanup, a
// step skipped for its failed dependency) and is decided again.
func retried(f *flowspec.Flow, recs map[string]*StepResult) map[string]bool {
	var failed []string
	now := time.Now()
	for id, r := range recs {
		// A wait past its timeout is asked again, as a failed one is.
		if s := f.Step(id); (r.Status == StepFailed || waitExpired(r, now)) && (s == nil || !s.ContinueOnError) {
			failed = append(failed, id)
		}
	}
	out := f.Descendants(failed...)
	for id := range out {
		if recs[id] == nil {
			delete(out, id)
		}
	}
	for _, id := range failed {
		out[id] = true
	}
	return out
}

// planForeach says whether the plan's step id is a foreach step.
func planForeach(plan []PlanStep, id string) bool {
	for _, p := range plan {
		if p.ID == id {
			return p.Foreach
		}
	}
	return false
}

func (e *Engine) continueRun(ctx context.Context, meta *RunMeta, f *flowspec.Flow, parallel int, opts ...ContinueOption) (*Run, error) {
	if parallel <= 0 {
		parallel = meta.Parallel
	}
	var cc continueConfig
	for _, o := range opts {
		o(&cc)
	}
	// The run keeps the budget it recorded (a run recorded before budgets
	// has its flow's); the options' limits win over it.
	limit := f.Budget
	if meta.Budget != nil {
		limit = *meta.Budget
	}
	meta.Budget = budgetOf(limit.Over(cc.budget))
	if cc.driven != nil && meta.Budget != nil {
		return nil, drivenBudgetError()
	}
	meta.NoCache = meta.NoCache || cc.noCache
	e.fillRegistry(meta)
	// A run that ended on Temporal and goes on here is this process's; one
	// that goes on there, its workflow's.
	meta.Temporal = cc.driven
	why, err := e.forgetRedo(ctx, meta)
	if err != nil {
		return nil, err
	}
	x := e.newExecution(f, meta, e.parallel(parallel))
	x.caller = e.runCaller(meta)
	x.reasons = why
	if err := x.loadRecords(); err != nil {
		return nil, err
	}
	if cc.driven != nil {
		return nil, x.handOver(ctx, cc.spec)
	}
	return x.run(ctx)
}

// Get returns a run's record.
func (e *Engine) Get(ctx context.Context, ref string) (*Run, error) {
	meta, err := e.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	return e.assemble(ctx, meta)
}

// metaOf resolves ref and reads its run's meta.
func (e *Engine) metaOf(ctx context.Context, ref string) (*RunMeta, error) {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return e.store.LoadMeta(ctx, id)
}

// liveStatus turns "running" into "interrupted" when no process holds the run.
func (e *Engine) liveStatus(ctx context.Context, meta *RunMeta) RunStatus {
	if meta.Status != RunRunning || meta.Temporal != nil {
		// A run on Temporal has no holder: its workflow keeps its status.
		return meta.Status
	}
	if h, err := e.holder(ctx, meta.ID); err == nil && h == nil {
		return RunInterrupted
	}
	return RunRunning
}

// assemble builds the full record of a run from its meta and step records.
func (e *Engine) assemble(ctx context.Context, meta *RunMeta) (*Run, error) {
	recs, damaged := e.store.LoadSteps(ctx, meta.ID)
	return e.assembleFrom(ctx, meta, recs, damaged)
}

// assembleFrom is assemble with the run's step records already read (and
// the error LoadSteps gave beside them); it may add to recs.
func (e *Engine) assembleFrom(ctx context.Context, meta *RunMeta, recs map[string]*StepResult, damaged error) (*Run, error) {
	if recs == nil {
		recs = map[string]*StepResult{}
	}
	// A damaged step record shows as a failed step whose error names the
	// file: the rest of the record stays readable.
	if damaged != nil {
		for _, p := range meta.Plan {
			if recs[p.ID] != nil {
				continue
			}
			if _, err := e.store.LoadStep(ctx, meta.ID, p.ID); err != nil {
				msg := err.Error()
				recs[p.ID] = &StepResult{ID: p.ID, Kind: p.Kind, Status: StepFailed, Error: &msg, Remedy: runstore.RemedyOf(err)}
			}
		}
	}
	run := meta.Run
	run.Status = e.liveStatus(ctx, meta)
	run.Steps = make([]StepResult, 0, len(meta.Plan))
	reused := reusedOf(meta)
	inFlight := e.inFlight(ctx, meta.ID, run.Status)
	for _, p := range meta.Plan {
		r := recs[p.ID]
		if r == nil {
			if ref, ok := reused[p.ID]; ok {
				var err error
				switch r, err = e.store.LoadStep(ctx, ref.Run, p.ID); {
				case err == nil && r == nil || errors.Is(err, runstore.ErrNotFound):
					// Removed since the replay took it: shown as a
					// damaged record is, not as a step never run.
					gone := missingRecord(ref.Run, p.ID, meta.ID)
					if ok, xerr := e.store.Exists(ctx, ref.Run); xerr == nil && !ok {
						gone = homeGone(meta.ID, p.ID, ref.Run)
					}
					msg := gone.Error()
					r = &StepResult{ID: p.ID, Kind: p.Kind, Status: StepFailed, Error: &msg, Remedy: runstore.RemedyOf(gone), Reused: true, ReusedFrom: ref.Run}
				case err != nil:
					msg := err.Error()
					r = &StepResult{ID: p.ID, Kind: p.Kind, Status: StepFailed, Error: &msg, Remedy: runstore.RemedyOf(err)}
				default:
					r.Reused, r.ReusedFrom, r.Why, r.Reason = true, ref.Run, reuseReason(meta, p.ID, ref.Run), ""
				}
			} else if meta.Status == RunCompleted {
				// Every step of a completed run has a record.
				msg := fmt.Sprintf("the record of step %s of run %s is missing (removed since the run ended)", p.ID, meta.ID)
				r = &StepResult{ID: p.ID, Kind: p.Kind, Status: StepFailed, Error: &msg,
					Remedy: &runstore.Remedy{Do: runstore.RemedyReplayStep, Run: meta.ID, Step: p.ID}}
			}
		}
		if r == nil {
			r = &StepResult{ID: p.ID, Kind: p.Kind, Status: StepPending}
			if t, ok := inFlight[p.ID]; ok {
				r.Status, r.StartedAt = StepRunning, &t
			}
			r.Status, r.Why = notRunNow(meta, r.Status)
		}
		if p.Foreach && !r.Reused {
			items, err := e.store.LoadItems(ctx, meta.ID, p.ID)
			if err != nil && r.Error == nil {
				msg := err.Error()
				r.Error, r.Remedy = &msg, runstore.RemedyOf(err)
			}
			r.Items = sortedItems(items)
		}
		run.Steps = append(run.Steps, *r)
	}
	e.itemCounts(ctx, &run)
	totals(&run, meta.Earlier)
	return &run, nil
}

// itemCounts sets the ItemCount of the foreach steps that have not ended
// but have finished items (a run interrupted, or running now): their
// records list only those. The journal's item_finished events tell how
// many items the list yields; it is read only for such steps.
func (e *Engine) itemCounts(ctx context.Context, run *Run) {
	open := map[string]*StepResult{}
	for i := range run.Steps {
		r := &run.Steps[i]
		if len(r.Items) > 0 && !r.Reused && (r.Status == StepPending || r.Status == StepRunning) {
			open[r.ID] = r
		}
	}
	if len(open) == 0 {
		return
	}
	evs, _, err := e.store.Events(ctx, run.ID, 0, 0)
	if err != nil {
		return // the count is for display; the records are intact
	}
	for _, ev := range evs {
		if r := open[ev.Step]; r != nil && ev.Type == EventItemFinished && ev.Total > 0 {
			r.ItemCount = ev.Total
		}
	}
}

// inFlight is, for a run that is running now, the steps its journal says
// started and have no result yet. Step records are the truth; this only
// tells "running" from "pending" for display.
func (e *Engine) inFlight(ctx context.Context, id string, status RunStatus) map[string]time.Time {
	if status != RunRunning {
		return nil
	}
	evs, _, err := e.store.Events(ctx, id, 0, 0)
	if err != nil {
		return nil
	}
	out := map[string]time.Time{}
	for _, ev := range evs {
		switch ev.Type {
		case EventRunStarted:
			clear(out) // an earlier go at the run left these behind
		case EventStepStarted:
			out[ev.Step] = ev.Time
		case EventStepFinished:
			delete(out, ev.Step)
		}
	}
	return out
}

func sortedItems(m map[int]*ItemResult) []ItemResult {
	out := make([]ItemResult, 0, len(m))
	for _, it := range m {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// totals sums usage and cost over the steps this run paid for, and what
// earlier goes at steps without a record yet spent (an interrupted run, a
// retry under way: see RunMeta.Earlier).
func totals(run *Run, earlier map[string]Spend) {
	run.Usage = providers.Usage{}
	run.CostUSD = 0
	add := func(u providers.Usage, c *float64) {
		run.Usage = run.Usage.Add(u)
		if c != nil {
			run.CostUSD += *c
		}
	}
	var unrecorded map[string]bool
	for _, s := range run.Steps {
		switch {
		case s.Reused:
		case s.Status == StepPending || s.Status == StepRunning:
			if len(earlier) > 0 {
				if unrecorded == nil {
					unrecorded = map[string]bool{}
				}
				unrecorded[s.ID] = true
			}
			// A foreach step stopped part-way has no record, but its
			// finished items do (one the meta also holds is counted there).
			for _, it := range s.Items {
				if _, kept := earlier[itemKey(s.ID, it.Index)]; !kept && !it.Reused {
					add(it.Usage, it.CostUSD)
				}
			}
		default:
			add(s.Usage, s.CostUSD)
		}
	}
	for key, sp := range earlier {
		step, _, _ := strings.Cut(key, "#")
		if unrecorded[step] {
			add(sp.Usage, sp.CostUSD)
		}
	}
}

// List returns runs newest first, without their steps. Runs that cannot be
// read are not in the list but in its DamagedRuns error, whatever the
// filter (their flow and status are unknown).
func (e *Engine) List(ctx context.Context, f ListFilter) ([]*Run, error) {
	if e.err != nil {
		return nil, e.err
	}
	// A run recorded as running whose holder is gone is interrupted: the
	// live status is known only here, so those two are filtered here.
	q := runstore.Query{Flow: f.Flow}
	if f.Status != RunRunning && f.Status != RunInterrupted {
		q.Status, q.Limit = f.Status, f.Limit
	}
	page, err := e.store.Query(ctx, q)
	var damaged DamagedRuns
	if err != nil && !errors.As(err, &damaged) {
		return nil, err
	}
	var out []*Run
	for _, m := range page.Runs {
		r := m.Run
		r.Status = e.liveStatus(ctx, m)
		if f.Flow != "" && r.Flow != f.Flow {
			continue
		}
		if f.Status != "" && r.Status != f.Status {
			continue
		}
		out = append(out, &r)
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	if len(damaged) > 0 {
		return out, damaged
	}
	return out, nil
}

// Cancel asks the process running a run to stop; a run nobody runs is
// marked cancelled at once.
func (e *Engine) Cancel(ctx context.Context, ref string) (*Run, error) {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta, err := e.store.LoadSummary(ctx, id); err == nil {
		if err := onTemporal(meta); err != nil {
			return nil, err
		}
	}
	unlock, err := e.acquire(ctx, id)
	if err != nil {
		var he *HeldError
		if !errors.As(err, &he) {
			return nil, err
		}
		// Completed and cancelled are final: a holder still releasing such
		// a run has nothing left to stop. (A failed one may be retried.)
		if meta, err := e.store.LoadSummary(ctx, id); err == nil && (meta.Status == RunCompleted || meta.Status == RunCancelled) {
			return nil, errNothingToCancel(id, meta.Status)
		}
		// Running elsewhere: leave a request it checks every ~200ms.
		if err := e.store.RequestCancel(ctx, id); err != nil {
			return nil, err
		}
		return e.Get(ctx, id)
	}
	defer unlock()
	meta, err := e.store.LoadMeta(ctx, id)
	if err != nil {
		return nil, err
	}
	switch meta.Status {
	case RunCompleted, RunFailed, RunCancelled:
		return nil, errNothingToCancel(id, meta.Status)
	}
	// A run nobody holds may still have commands a killed kitaru left
	// running; nothing will run its steps again to stop them.
	e.stopLeftovers(ctx, meta)
	e.stopMCPLeftovers(ctx, meta.ID)
	return e.settle(ctx, meta, runEnd{RunCancelled, &Ending{Code: runstore.EndCancelled}, nil})
}

// Logs sends a run's log lines (of one step when step is not "") to fn;
// with follow it keeps polling until the run no longer runs.
func (e *Engine) Logs(ctx context.Context, ref, step string, follow bool, fn func(LogLine) error) error {
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return err
	}
	meta, err := e.store.LoadMeta(ctx, id)
	if err != nil {
		return err
	}
	if step != "" {
		known := false
		var ids []string
		for _, p := range meta.Plan {
			ids = append(ids, p.ID)
			known = known || p.ID == step
		}
		if !known {
			return &UsageError{Err: fmt.Errorf("run %s has no step %q; its steps are: %s", id, step, strings.Join(ids, ", "))}
		}
	}
	var after int64
	for {
		// Whether it still runs is read before the log so that lines
		// written just before it stopped are not missed.
		h, _ := e.holder(ctx, id)
		running := h != nil
		if meta.Temporal != nil {
			// No process holds a run on Temporal: its workflow keeps
			// its status.
			if m, err := e.store.LoadSummary(ctx, id); err == nil {
				running = m.Status == RunRunning
			}
		}
		lines, err := e.store.Logs(ctx, id, after)
		var bad *runstore.DamagedError
		if errors.As(err, &bad) && bad.Part == runstore.PartLog {
			// The lines that read are shown, the damaged one is said (once:
			// the next read starts after it).
			e.warn(err)
			err = nil
		}
		if err != nil {
			return err
		}
		for _, l := range lines {
			after = l.Seq
			if step != "" && l.Step != step {
				continue
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		if bad != nil {
			after = max(after, bad.Line)
		}
		if !follow || !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// warn passes on a problem no record holds (a journal line that could not
// be written) to Config.Warn.
func (e *Engine) warn(err error) {
	if e.cfg.Warn != nil {
		e.cfg.Warn(err)
	}
}

// notRunNow is how a step without a record of a run that ended reads: a
// cancelled run's is skipped (it is not continued), a budget-stopped run's
// is pending, held for a resume with a larger budget; others as they are.
func notRunNow(meta *RunMeta, st StepStatus) (StepStatus, *Reason) {
	switch {
	case st != StepPending:
	case meta.Status == RunCancelled:
		return StepSkipped, &Reason{Code: runstore.ReasonRunCancelled}
	case meta.Status == RunFailed && meta.Ending != nil && meta.Ending.Code == runstore.EndBudgetExceeded:
		return StepPending, &Reason{Code: runstore.ReasonHeldByBudget}
	}
	return st, nil
}
