// Package temporal is the Temporal driver of kitaru runs: a flow runs as
// one Temporal workflow, its steps and foreach items as activities, on any
// number of worker processes that share the run store.
//
// The workflow (Flow) schedules with package plan's pure functions, as the
// engine's own run loop does, so a run on Temporal and a local one cannot
// disagree on what runs when. It reads no clock, randomness, environment
// or file: time is Temporal's (timers), everything else comes in its input,
// signals and activity results. The activities (Activities) run a step or
// an item through the engine's executors and record the result in the run
// store themselves, returning only statuses, so no output ever travels
// through Temporal's payloads (which it limits to 2 MB) and every command
// reads a Temporal run as it reads a local one.
//
// A step's retry: and timeout: become its activity's retry policy and
// timeouts; a wait step waits for an answer (the UpdateAnswer update, or
// the older Answer signal), with a durable timer to its recorded deadline;
// cancelling the workflow cancels the run. Past its history limit the
// workflow continues as new, carrying the steps' states (see Input.Carry).
package temporal

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// The names Temporal knows kitaru's workflow, signal and activities by:
// they are part of recorded histories, so they never change.
const (
	WorkflowName = "kitaru.flow"
	SignalAnswer = "kitaru.answer"
	// UpdateAnswer answers a wait as SignalAnswer does, and returns once
	// the answer is recorded, or fails with why it was refused (not its
	// schema's, the step no longer waits).
	UpdateAnswer = "kitaru.input"

	activityStep       = "kitaru.step"
	activityForeach    = "kitaru.foreach"
	activityItem       = "kitaru.item"
	activityForeachEnd = "kitaru.foreach_end"
	activityAnswer     = "kitaru.answer"
	activityExpire     = "kitaru.expire"
	activityFail       = "kitaru.fail"
	activityMark       = "kitaru.mark"
	activityFinish     = "kitaru.finish"
	activityAbandon    = "kitaru.abandon"

	// errAgainType is the error type of an attempt the retry policy tries
	// again; errUsageType of a request no retry can fix.
	errAgainType = "kitaru.again"
	errUsageType = "kitaru.usage"
)

// DefaultHeartbeat is how soon a step's activity whose worker died is
// tried again elsewhere, when Input does not say.
const DefaultHeartbeat = 30 * time.Second

// lostAttempts are the attempts of a unit's activity allowed beyond its
// step's retry: attempts, for workers lost mid-step (each costs one).
const lostAttempts = 5

// Input starts a Flow workflow.
type Input struct {
	Spec engine.DriveSpec `json:"spec"`
	// Heartbeat is the heartbeat timeout of step activities (<= 0:
	// DefaultHeartbeat): how long a dead worker goes unnoticed.
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
	// HistoryLimit is the history length (events) past which the
	// workflow continues as new (<= 0: DefaultHistoryLimit).
	HistoryLimit int `json:"history_limit,omitempty"`
	// Carry are the foreach steps in progress when the workflow before
	// this one continued as new; the states of the other steps are in
	// Spec, their outputs in the store.
	Carry map[string]ForeachCarry `json:"carry,omitempty"`
}

// DefaultHistoryLimit is well below Temporal's own limit (51,200 events),
// so the units in flight when it is reached can end first.
const DefaultHistoryLimit = 20000

// ForeachCarry is a foreach step in progress, carried across a
// continue-as-new: when it started, the items of this go that ended
// (recorded, completed or failed), as spans, and whether an item's
// activity gave up.
type ForeachCarry struct {
	Started time.Time `json:"started"`
	Ended   []Span    `json:"ended,omitempty"`
	Failed  bool      `json:"failed,omitempty"`
}

// Span is the items from [0] to before [1].
type Span [2]int

// addSpan adds item i to spans, sorted and merged.
func addSpan(spans []Span, i int) []Span {
	k := 0
	for k < len(spans) && spans[k][1] < i {
		k++
	}
	switch {
	case k < len(spans) && spans[k][0] <= i && i < spans[k][1]:
		return spans
	case k < len(spans) && spans[k][1] == i:
		spans[k][1]++
		if k+1 < len(spans) && spans[k+1][0] == i+1 {
			spans[k][1] = spans[k+1][1]
			spans = append(spans[:k+1], spans[k+2:]...)
		}
		return spans
	case k < len(spans) && spans[k][0] == i+1:
		spans[k][0] = i
		return spans
	}
	return slices.Insert(spans, k, Span{i, i + 1})
}

func inSpans(spans []Span, i int) bool {
	for _, sp := range spans {
		if sp[0] <= i && i < sp[1] {
			return true
		}
	}
	return false
}

// Answer is the payload of SignalAnswer: the answer to wait step Step
// ("": the only one waiting), as JSON.
type Answer struct {
	Step  string          `json:"step,omitempty"`
	Value json.RawMessage `json:"value"`
}

// Result is how a Flow workflow ended the run.
type Result struct {
	Status runstore.RunStatus `json:"status"`
	Ending plan.Ending        `json:"ending"`
}

// A unit of the workflow is one activity or timer in flight.
type unitKind int

const (
	unitStep unitKind = iota
	unitForeach
	unitItem
	unitForeachEnd
	unitAnswer
	unitExpire
	unitTimer
	unitFail
	unitMark
)

type pending struct {
	kind unitKind
	step string
	item int
	fut  workflow.Future
	slot bool // it holds one of the run's parallel places
}

// flowRun is the state of one Flow workflow; only its goroutine (the
// workflow's) touches it.
type flowRun struct {
	ctx       workflow.Context
	in        Input
	sp        *engine.DriveSpec
	status    map[string]runstore.StepStatus
	frontier  *plan.Frontier
	free      int
	want      []pending // units waiting for a place, in order
	inFlight  []*pending
	foreach   map[string]*foreachState
	timers    map[string]workflow.CancelFunc // wait timeouts by step
	answers   map[string][]asked             // answers not yet asked for (or sent early)
	answering map[string]bool
	replying  map[string]workflow.Settable // the reply of the answer being recorded, by step
	over      bool                         // the run's end is being recorded: no answer is taken
	// expired: the step's timeout ran out (its expiry is recorded unless
	// an answer in flight is taken).
	expired map[string]bool
	// deadlines are when the waits' timeouts run out, as recorded.
	deadlines map[string]time.Time
	marked    bool // the run is recorded waiting
	// canContinue: this workflow may continue as new (not one begun by a
	// kitaru before it could, whose history has no such point); draining:
	// it is to, once the units in flight have ended; progressed counts
	// the units that ended in it.
	canContinue, draining bool
	progressed            int
	cancelled             bool
}

type foreachState struct {
	left    int // items not yet ended
	started time.Time
	failed  bool   // an item's activity gave up: the step fails
	ended   []Span // the items that ended in this go
}

// Flow is the workflow of one run: it schedules the run's steps with
// plan.Frontier as their states come in, and ends it as plan.Verdict says.
// A workflow that fails (an error, a panic of its code) records the run
// failed with the cause before it ends.
func Flow(ctx workflow.Context, in Input) (*Result, error) {
	return guard(ctx, in, flow)
}

// guard runs body as the workflow, and records the run failed when body
// fails other than by its cancellation: otherwise the run would read as
// running for ever.
func guard(ctx workflow.Context, in Input, body func(workflow.Context, Input) (*Result, error)) (*Result, error) {
	res, err := recovered(ctx, in, body)
	if err == nil || temporal.IsCanceledError(err) || workflow.IsContinueAsNewError(err) {
		return res, err
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	req := AbandonRequest{Run: in.Spec.Run, Error: err.Error()}
	if aerr := workflow.ExecuteActivity(bookkeeping(dctx), activityAbandon, req).Get(dctx, nil); aerr != nil {
		workflow.GetLogger(ctx).Error("the run's failure could not be recorded", "error", aerr)
	}
	return nil, err
}

// recovered is body's end, a panic of it as an error. The activity that
// records it runs after this returns: a deferred function may not block
// the workflow while a panic unwinds.
func recovered(ctx workflow.Context, in Input, body func(workflow.Context, Input) (*Result, error)) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("the workflow's code panicked: %v", p)
		}
	}()
	return body(ctx, in)
}

func flow(ctx workflow.Context, in Input) (*Result, error) {
	sp := &in.Spec
	r := &flowRun{ctx: ctx, in: in, sp: sp, status: map[string]runstore.StepStatus{}, free: max(1, sp.Parallel),
		foreach: map[string]*foreachState{}, timers: map[string]workflow.CancelFunc{},
		answers: map[string][]asked{}, answering: map[string]bool{}, replying: map[string]workflow.Settable{}, expired: map[string]bool{},
		deadlines: map[string]time.Time{}}
	for _, id := range sp.Order {
		if st := sp.Steps[id].Status; st != "" {
			r.status[id] = st
		}
		if dl := sp.Steps[id].Deadline; dl != nil {
			r.deadlines[id] = *dl
		}
	}
	r.frontier = plan.NewFrontier(sp.Graph(), func(id string) (bool, bool) {
		st, has := r.status[id]
		return has, has && decided(st)
	})
	for _, id := range sp.Order {
		if r.status[id] == runstore.StepWaiting {
			r.waiting(id)
		}
	}
	r.canContinue = workflow.GetVersion(ctx, "continue-as-new", workflow.DefaultVersion, 1) >= 1
	signals := workflow.GetSignalChannel(ctx, SignalAnswer)
	updates := workflow.NewBufferedChannel(ctx, 64)
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAnswer, func(ctx workflow.Context, a Answer) (*engine.StepOutcome, error) {
		fut, reply := workflow.NewFuture(ctx)
		updates.Send(ctx, asked{Answer: a, reply: reply})
		var out engine.StepOutcome
		if err := fut.Get(ctx, &out); err != nil {
			return nil, err
		}
		return &out, nil
	}, workflow.UpdateHandlerOptions{Validator: r.checkAnswer}); err != nil {
		return nil, err
	}
	for {
		if !r.cancelled {
			r.schedule()
		}
		if r.idle() {
			if r.cancelled {
				break
			}
			end := plan.Verdict(sp.Order, r.statusOf, r.continued, plan.NotStopped)
			if end.Status != runstore.RunWaiting {
				break
			}
			if !r.marked {
				// Every step that can run has: the run reads as waiting
				// until an answer comes.
				r.marked = true
				r.mark(end)
			}
		}
		if r.canContinue && !r.draining && !r.cancelled && r.progressed > 0 && workflow.GetInfo(ctx).GetCurrentHistoryLength() >= r.historyLimit() {
			// No unit starts from here on (those made ready have been
			// started above, so each workflow gets on): the next
			// workflow starts them.
			r.draining = true
		}
		if r.draining && r.drained() {
			// Answers sent before their step asked are not carried.
			r.refuseAll("run " + sp.Run + " went on in a new workflow before the step asked; send the answer again")
			return nil, workflow.NewContinueAsNewError(ctx, WorkflowName, r.carry())
		}
		sel := workflow.NewSelector(ctx)
		for _, p := range r.inFlight {
			sel.AddFuture(p.fut, func(workflow.Future) { r.done(p) })
		}
		sel.AddReceive(signals, func(c workflow.ReceiveChannel, _ bool) {
			var a Answer
			c.Receive(ctx, &a)
			r.answer(asked{Answer: a})
		})
		sel.AddReceive(updates, func(c workflow.ReceiveChannel, _ bool) {
			var q asked
			c.Receive(ctx, &q)
			r.answer(q)
		})
		if !r.cancelled {
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { r.cancel() })
		}
		sel.Select(ctx)
	}

	r.over = true
	for {
		var q asked
		if !updates.ReceiveAsync(&q) {
			break
		}
		r.answer(q)
	}
	r.refuseAll("run " + sp.Run + " has ended")
	stop := plan.NotStopped
	if r.cancelled {
		stop = plan.StoppedByCancel
	}
	end := plan.Verdict(sp.Order, r.statusOf, r.continued, stop)
	// The run's end is recorded even when the workflow is cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(bookkeeping(dctx), activityFinish, FinishRequest{Run: sp.Run, End: end}).Get(dctx, nil); err != nil {
		return nil, err
	}
	if r.cancelled {
		return nil, workflow.ErrCanceled
	}
	return &Result{Status: end.Status, Ending: end}, nil
}

func (r *flowRun) historyLimit() int {
	if r.in.HistoryLimit > 0 {
		return r.in.HistoryLimit
	}
	return DefaultHistoryLimit
}

// drained says whether the workflow can continue as new: nothing in
// flight but the timers of waits (the next workflow starts them again
// from their deadlines), no answer kept or being recorded.
func (r *flowRun) drained() bool {
	for _, p := range r.inFlight {
		if p.kind != unitTimer {
			return false
		}
	}
	for id, as := range r.answers {
		if len(as) > 0 && r.status[id] == runstore.StepWaiting {
			return false
		}
	}
	return len(r.replying) == 0
}

// carry is the input of the workflow this one continues as: the steps'
// states as they stand, and the foreach steps in progress.
func (r *flowRun) carry() Input {
	next := r.in
	next.Spec.Steps = make(map[string]engine.DriveStep, len(r.in.Spec.Steps))
	for id, ds := range r.in.Spec.Steps {
		ds.Status = r.status[id]
		ds.Deadline = nil
		if dl, ok := r.deadlines[id]; ok && ds.Status == runstore.StepWaiting {
			ds.Deadline = &dl
		}
		next.Spec.Steps[id] = ds
	}
	next.Carry = nil
	for id, fs := range r.foreach {
		if _, has := r.status[id]; has {
			continue
		}
		if next.Carry == nil {
			next.Carry = map[string]ForeachCarry{}
		}
		next.Carry[id] = ForeachCarry{Started: fs.started, Ended: fs.ended, Failed: fs.failed}
	}
	return next
}

// idle says whether nothing runs nor waits for a place: only the
// timeouts of waits may be in flight (and a run that ends meanwhile, a
// step having failed, does not wait for them).
func (r *flowRun) idle() bool {
	if len(r.want) > 0 {
		return false
	}
	for _, p := range r.inFlight {
		if p.kind != unitTimer || r.cancelled {
			return false
		}
	}
	return true
}

func decided(s runstore.StepStatus) bool {
	return s == runstore.StepCompleted || s == runstore.StepSkipped || s == runstore.StepFailed
}

func (r *flowRun) statusOf(id string) (runstore.StepStatus, bool) {
	st, has := r.status[id]
	return st, has
}

func (r *flowRun) continued(id string) bool {
	return r.status[id] == runstore.StepFailed && r.sp.Steps[id].ContinueOnError
}

// schedule takes the steps the frontier has ready, and starts the units
// that wait for a place while there are places.
func (r *flowRun) schedule() {
	if r.draining {
		return
	}
	for {
		id, more := r.frontier.Next()
		if !more {
			break
		}
		if r.sp.Steps[id].Foreach {
			// It holds no place: its items take their own.
			r.start(pending{kind: unitForeach, step: id})
			continue
		}
		r.want = append(r.want, pending{kind: unitStep, step: id, slot: true})
	}
	for len(r.want) > 0 && r.free > 0 {
		p := r.want[0]
		r.want = r.want[1:]
		r.free--
		r.start(p)
	}
}

// start executes unit p's activity.
func (r *flowRun) start(p pending) {
	run := r.sp.Run
	switch p.kind {
	case unitStep:
		p.fut = workflow.ExecuteActivity(r.unitCtx(p.step), activityStep, StepRequest{Run: run, Step: p.step})
	case unitItem:
		p.fut = workflow.ExecuteActivity(r.unitCtx(p.step), activityItem, ItemRequest{Run: run, Step: p.step, Index: p.item})
	case unitForeach:
		p.fut = workflow.ExecuteActivity(bookkeeping(r.ctx), activityForeach, StepRequest{Run: run, Step: p.step})
	case unitForeachEnd:
		p.fut = workflow.ExecuteActivity(bookkeeping(r.ctx), activityForeachEnd, ForeachEndRequest{Run: run, Step: p.step, Started: r.foreach[p.step].started})
	case unitExpire:
		p.fut = workflow.ExecuteActivity(bookkeeping(r.ctx), activityExpire, StepRequest{Run: run, Step: p.step})
	}
	r.inFlight = append(r.inFlight, &p)
}

// done takes in the end of unit p.
func (r *flowRun) done(p *pending) {
	for i, q := range r.inFlight {
		if q == p {
			r.inFlight = append(r.inFlight[:i], r.inFlight[i+1:]...)
			break
		}
	}
	if p.slot {
		r.free++
	}
	if p.kind != unitMark && p.kind != unitTimer {
		r.progressed++
	}
	switch p.kind {
	case unitStep, unitExpire, unitForeachEnd, unitFail:
		var out engine.StepOutcome
		if err := p.fut.Get(r.ctx, &out); err != nil {
			r.unitFailed(p, err)
			return
		}
		if out.Deadline != nil {
			r.deadlines[p.step] = *out.Deadline
		}
		r.ended(p.step, out.Status)
	case unitForeach:
		var out engine.ForeachOutcome
		if err := p.fut.Get(r.ctx, &out); err != nil {
			r.unitFailed(p, err)
			return
		}
		if out.Outcome != nil {
			r.ended(p.step, out.Outcome.Status)
			return
		}
		fs := &foreachState{started: out.Started}
		if c, ok := r.in.Carry[p.step]; ok {
			// Begun by the workflow before this one: its items that
			// ended there are not run again.
			fs.started, fs.failed, fs.ended = c.Started, c.Failed, slices.Clone(c.Ended)
			out.Todo = slices.DeleteFunc(out.Todo, func(i int) bool { return inSpans(c.Ended, i) })
		}
		fs.left = len(out.Todo)
		r.foreach[p.step] = fs
		if len(out.Todo) == 0 {
			r.start(pending{kind: unitForeachEnd, step: p.step})
			return
		}
		for _, i := range out.Todo {
			r.want = append(r.want, pending{kind: unitItem, step: p.step, item: i, slot: true})
		}
	case unitItem:
		fs := r.foreach[p.step]
		var out engine.StepOutcome
		if err := p.fut.Get(r.ctx, &out); err != nil && !r.cancelled {
			workflow.GetLogger(r.ctx).Error("an item's activity gave up", "step", p.step, "item", p.item, "error", err)
			fs.failed = true
		}
		fs.ended = addSpan(fs.ended, p.item)
		fs.left--
		if fs.left == 0 && !r.cancelled {
			if fs.failed {
				r.fail(p.step, "an item's activity gave up")
				return
			}
			r.start(pending{kind: unitForeachEnd, step: p.step})
		}
	case unitAnswer:
		r.answering[p.step] = false
		reply := r.replying[p.step]
		delete(r.replying, p.step)
		var out engine.StepOutcome
		err := p.fut.Get(r.ctx, &out)
		if reply != nil {
			if err != nil {
				reply.SetError(refusal(cause(err)))
			} else {
				reply.SetValue(&out)
			}
		}
		if err != nil {
			// Refused (not JSON, not its schema): the step waits on.
			workflow.GetLogger(r.ctx).Info("an answer was refused", "step", p.step, "error", err)
			if r.expired[p.step] {
				r.start(pending{kind: unitExpire, step: p.step})
				return
			}
			r.nextAnswer(p.step)
			return
		}
		r.ended(p.step, out.Status)
	case unitTimer:
		if err := p.fut.Get(r.ctx, nil); err != nil {
			return // cancelled: answered, or the run was
		}
		delete(r.timers, p.step)
		r.expired[p.step] = true
		if r.status[p.step] == runstore.StepWaiting && !r.cancelled && !r.answering[p.step] {
			r.start(pending{kind: unitExpire, step: p.step})
		}
	case unitMark:
		if err := p.fut.Get(r.ctx, nil); err != nil {
			workflow.GetLogger(r.ctx).Warn("the run's state could not be recorded", "error", err)
		}
	}
}

// unitFailed takes in a unit whose activity gave up (its retries spent on
// lost workers or an unreachable store): the step is recorded failed.
func (r *flowRun) unitFailed(p *pending, err error) {
	if r.cancelled {
		return
	}
	if p.kind == unitFail {
		// Not even its failure could be recorded: it stays without a
		// state, and the run ends failed (never ready).
		workflow.GetLogger(r.ctx).Error("a step's failure could not be recorded", "step", p.step, "error", err)
		return
	}
	r.fail(p.step, "its activity gave up: "+cause(err))
}

// cause is the innermost message of an activity's error.
func cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func (r *flowRun) fail(step, msg string) {
	fut := workflow.ExecuteActivity(bookkeeping(r.ctx), activityFail, FailRequest{Run: r.sp.Run, Step: step, Error: msg})
	r.inFlight = append(r.inFlight, &pending{kind: unitFail, step: step, fut: fut})
}

// ended records a step's state, as the run loop's finish does.
func (r *flowRun) ended(step string, st runstore.StepStatus) {
	if prev := r.status[step]; st == "" || decided(prev) {
		// A step ends once: a late answer or expiry does not free its
		// dependents again.
		return
	}
	r.status[step] = st
	if st == runstore.StepWaiting {
		r.waiting(step)
		return
	}
	r.refuse(step, fmt.Sprintf("step %s is no longer waiting (it is %s)", step, st))
	if c, ok := r.timers[step]; ok {
		c()
		delete(r.timers, step)
	}
	r.frontier.Finished(step, decided(st))
	if r.marked {
		r.marked = false
		r.mark(plan.Ending{Status: runstore.RunRunning})
	}
}

// waiting starts the timeout of a wait step (from its recorded deadline
// when there is one) and takes the answers that came before it waited.
func (r *flowRun) waiting(step string) {
	if d := r.sp.Steps[step].Timeout; d > 0 && r.sp.Steps[step].Wait {
		if dl, ok := r.deadlines[step]; ok {
			// As recorded: a wait that began before this workflow (a
			// resumed run's) has only what is left of its timeout.
			d = dl.Sub(workflow.Now(r.ctx))
		}
		if d <= 0 {
			r.expired[step] = true
			if !r.answering[step] {
				r.start(pending{kind: unitExpire, step: step})
			}
			return
		}
		tctx, cancel := workflow.WithCancel(r.ctx)
		r.timers[step] = cancel
		r.inFlight = append(r.inFlight, &pending{kind: unitTimer, step: step, fut: workflow.NewTimer(tctx, d)})
	}
	r.nextAnswer(step)
}

// asked is an answer, with the reply its update waits for (nil: it came
// as a signal).
type asked struct {
	Answer
	reply workflow.Settable
}

// refusal is the error an update's answer is refused with.
func refusal(msg string) error {
	return temporal.NewApplicationError(msg, errUsageType)
}

// checkAnswer is the validator of UpdateAnswer: it refuses, before the
// answer enters the history, one no wait of the run can take.
func (r *flowRun) checkAnswer(a Answer) error {
	if r.over || r.cancelled {
		return refusal("run " + r.sp.Run + " has ended")
	}
	if a.Step == "" {
		return nil // answer says which waits, if one does
	}
	s, ok := r.sp.Steps[a.Step]
	if !ok || !s.Wait {
		return refusal(fmt.Sprintf("run %s has no wait step %q", r.sp.Run, a.Step))
	}
	if st := r.status[a.Step]; decided(st) {
		return refusal(fmt.Sprintf("step %s is no longer waiting (it is %s)", a.Step, st))
	}
	if r.expired[a.Step] {
		return refusal(fmt.Sprintf("the timeout of step %s ran out", a.Step))
	}
	return nil
}

// answer takes in an answer.
func (r *flowRun) answer(a asked) {
	no := func(msg string) {
		workflow.GetLogger(r.ctx).Info("an answer was not taken", "why", msg)
		if a.reply != nil {
			a.reply.SetError(refusal(msg))
		}
	}
	if r.cancelled || r.over {
		no("run " + r.sp.Run + " has ended")
		return
	}
	if a.Step == "" {
		for _, id := range r.sp.Order {
			if r.status[id] == runstore.StepWaiting {
				if a.Step != "" {
					no("the answer names no step, and several wait")
					return
				}
				a.Step = id
			}
		}
		if a.Step == "" {
			no("no step of run " + r.sp.Run + " waits")
			return
		}
	}
	if _, ok := r.sp.Steps[a.Step]; !ok {
		no(fmt.Sprintf("run %s has no step %q", r.sp.Run, a.Step))
		return
	}
	if st := r.status[a.Step]; decided(st) {
		no(fmt.Sprintf("step %s is no longer waiting (it is %s)", a.Step, st))
		return
	}
	r.answers[a.Step] = append(r.answers[a.Step], a)
	r.nextAnswer(a.Step)
}

// refuse refuses the answers kept for step, with msg.
func (r *flowRun) refuse(step, msg string) {
	for _, a := range r.answers[step] {
		if a.reply != nil {
			a.reply.SetError(refusal(msg))
		}
	}
	delete(r.answers, step)
}

// refuseAll refuses every answer kept, with msg.
func (r *flowRun) refuseAll(msg string) {
	for _, id := range r.sp.Order {
		r.refuse(id, msg)
	}
}

// nextAnswer records the first answer kept for a waiting step.
func (r *flowRun) nextAnswer(step string) {
	if r.status[step] != runstore.StepWaiting || r.answering[step] || r.expired[step] || len(r.answers[step]) == 0 {
		return
	}
	a := r.answers[step][0]
	r.answers[step] = r.answers[step][1:]
	r.answering[step] = true
	if a.reply != nil {
		r.replying[step] = a.reply
	}
	fut := workflow.ExecuteActivity(bookkeeping(r.ctx), activityAnswer, AnswerRequest{Run: r.sp.Run, Step: step, Value: a.Value})
	r.inFlight = append(r.inFlight, &pending{kind: unitAnswer, step: step, fut: fut})
}

// mark records the run's state while it goes on (waiting, or running
// again).
func (r *flowRun) mark(end plan.Ending) {
	fut := workflow.ExecuteActivity(bookkeeping(r.ctx), activityMark, FinishRequest{Run: r.sp.Run, End: end})
	r.inFlight = append(r.inFlight, &pending{kind: unitMark, fut: fut})
}

// cancel stops the run: no unit starts, the running ones are cancelled
// (their activities stop at their next heartbeat), and the run ends
// cancelled once they have.
func (r *flowRun) cancel() {
	r.cancelled = true
	r.refuseAll("run " + r.sp.Run + " was cancelled")
	for _, p := range r.want {
		if p.slot {
			r.free++
		}
	}
	r.want = nil
}

// unitCtx is the context of a step's or item's activity: the step's
// timeout and retry as Temporal's.
func (r *flowRun) unitCtx(step string) workflow.Context {
	s := r.sp.Steps[step]
	hb := r.in.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	return workflow.WithActivityOptions(r.ctx, UnitOptions(s, hb))
}

// UnitOptions are the activity options of a unit of step s: its
// attempts, and backoff doubling up to 5 minutes, as its retry policy
// (beside lostAttempts for lost workers); its timeout, which the activity
// enforces itself so that its record says so, plus a minute as the
// start-to-close timeout (a week without one); hb as heartbeat timeout.
func UnitOptions(s engine.DriveStep, hb time.Duration) workflow.ActivityOptions {
	initial := s.Backoff
	if initial <= 0 {
		// Temporal wants an interval: a step without backoff retries
		// almost at once.
		initial = 100 * time.Millisecond
	}
	timeout := 7 * 24 * time.Hour
	if s.Timeout > 0 && !s.Wait {
		timeout = s.Timeout + time.Minute
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    hb,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        initial,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        int32(max(1, s.Attempts) + lostAttempts),
			NonRetryableErrorTypes: []string{errUsageType},
		},
	}
}

// bookkeeping is the context of the activities that only read and write
// records: quick, retried while the store is out of reach for a while.
func bookkeeping(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        20,
			NonRetryableErrorTypes: []string{errUsageType},
		},
	})
}
