package cli

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/providers"
)

// runState is what the progress views know about a run, folded from its
// events. It is not safe for concurrent use; the views lock around it.
type runState struct {
	started, finished bool
	// resumed: the run had done steps of its own when it started (resume,
	// retry, input), as opposed to a new run or a replay.
	resumed        bool
	runID, flow    string
	replayOf, from string
	startedAt      time.Time
	endedAt        time.Time
	// goStart is when this go at the run started; activeBefore what the
	// goes before it took (the record's active_ms); activeMS the final
	// record's, once it ended.
	goStart      time.Time
	activeBefore time.Duration
	activeMS     int64
	runStatus    engine.RunStatus
	continued    string // the failures continue_on_error let pass (continuedText)

	steps []*stepState
	byID  map[string]*stepState
	slab  []stepState // where new steps' states are taken from
	nameW int         // the longest step id, in runes: every plain line asks for it

	usage     providers.Usage
	cost      float64
	costKnown bool // false when a step used tokens of a model with no known price
}

type stepState struct {
	id       string
	status   engine.StepStatus
	reused   bool
	reason   string // why it ran, was reused or skipped (see stepReason)
	brief    string // the same, short enough for a line of the live view
	attempt  int
	started  time.Time
	duration time.Duration

	usage     providers.Usage
	cost      float64
	costKnown bool

	errLine    string
	continued  bool // failed, but with continue_on_error
	question   string
	answer     string // a wait step's answer, as compact JSON
	retryNote  string
	callRetry  bool   // retryNote is a model call's own retry (callRetryText)
	streamLine string // the latest line of a running model's answer or command's output
	// lastOut is when the plain view last printed a line of its output
	// (see plainOutputEvery).
	lastOut time.Time
	// A foreach step's items: done counts the finished ones, failed
	// those of them that failed (see itemCounts); total is how many its
	// list yields.
	done   int
	failed int
	total  int

	printed bool // the plain view has said how it ended
	stopped bool // was running when the run was interrupted or cancelled
}

func newRunState() *runState {
	return &runState{byID: map[string]*stepState{}, costKnown: true}
}

// step returns the step's state, adding it (at the end) for a step the
// run_started event did not list.
func (r *runState) step(id string) *stepState {
	if s, ok := r.byID[id]; ok {
		return s
	}
	if len(r.slab) == 0 {
		r.slab = make([]stepState, 16)
	}
	s := &r.slab[0]
	r.slab = r.slab[1:]
	*s = stepState{id: id, status: engine.StepPending}
	r.byID[id] = s
	r.steps = append(r.steps, s)
	r.nameW = max(r.nameW, utf8.RuneCountInString(id))
	return s
}

// nameWidth is the width of the step-name column.
func (r *runState) nameWidth() int { return r.nameW }

func (r *runState) runSubtitle() string {
	out := ""
	if r.flow != "" {
		out = ": " + r.flow
	}
	if r.replayOf != "" {
		out += " (replay of " + r.replayOf
		if r.from != "" {
			out += " from " + r.from
		}
		out += ")"
	}
	return out
}

// runElapsed is how long the run has been going at now, or how long it
// took once it ended, in "2.1s (wall 3h12m)" when it sat interrupted or
// waiting between goes (see runTime).
func (r *runState) runElapsed(now time.Time) (string, bool) {
	if r.startedAt.IsZero() {
		return "", false
	}
	end := now
	if r.finished && !r.endedAt.IsZero() {
		end = r.endedAt
	}
	active := r.activeBefore
	switch {
	case r.finished && r.activeMS > 0:
		active = time.Duration(r.activeMS) * time.Millisecond
	case !r.goStart.IsZero():
		active += end.Sub(r.goStart)
	default:
		active += end.Sub(r.startedAt)
	}
	return runTime(active, end.Sub(r.startedAt)), true
}

// apply folds one event into the state. It reports whether a step finished
// in a way not seen before (so the plain view does not repeat itself).
func (r *runState) apply(e engine.Event, now func() time.Time) (changed bool) {
	t := e.Time
	if t.IsZero() {
		t = now()
	}
	if r.runID == "" {
		r.runID = e.RunID
	}
	switch e.Type {
	case engine.EventRunStarted:
		r.started = true
		r.startedAt, r.goStart = t, t
		if e.Run != nil {
			r.setRun(e.Run, false)
			for _, s := range e.Run.Steps {
				if s.Status != engine.StepPending && !s.Reused && s.Why == nil && s.Reason == "" {
					r.resumed = true
				}
			}
		}
	case engine.EventStepStarted:
		s := r.step(e.Step)
		s.status = engine.StepRunning
		s.reused = false
		s.started = t
		s.attempt = e.Attempt
		s.retryNote, s.callRetry, s.streamLine = "", false, ""
		// Failed items of an earlier go run again; their finishing is told anew.
		s.failed = 0
	case engine.EventStepRetrying:
		s := r.step(e.Step)
		s.retryNote = retryText(e)
	case engine.EventText:
		r.step(e.Step).streamed(e)
	case engine.EventLog:
		r.step(e.Step).output(e)
	case engine.EventCallRetrying:
		s := r.step(e.Step)
		s.retryNote, s.callRetry = callRetryText(e), true
	case engine.EventLeftoverStopped:
		r.step(e.Step).retryNote = leftoverText(e)
	case engine.EventItemFinished:
		s := r.step(e.Step)
		if e.Total > 0 {
			s.done, s.total = e.Done, e.Total
		}
		if e.Error != "" {
			s.failed++
		}
	case engine.EventStepFinished:
		s := r.step(e.Step)
		before := [2]any{s.status, s.reused}
		if e.Result != nil {
			s.setResult(e.Result)
		}
		changed = before != [2]any{s.status, s.reused}
	case engine.EventRunFinished:
		r.finished = true
		r.endedAt = t
		if e.Run != nil {
			r.setRun(e.Run, true)
		}
	}
	if e.Type != engine.EventRunFinished || e.Run == nil {
		r.sumUsage()
	}
	return changed
}

// setRun takes what the run record says. The final record's totals are
// authoritative; while running, totals are summed from the steps.
func (r *runState) setRun(run *engine.Run, final bool) {
	if run.ID != "" {
		r.runID = run.ID
	}
	r.flow = run.Flow
	if run.ReplayOf != nil {
		r.replayOf = *run.ReplayOf
	}
	r.from = run.ReplayFrom
	if !run.StartedAt.IsZero() && !final {
		r.startedAt = run.StartedAt
		r.activeBefore = time.Duration(run.ActiveMS) * time.Millisecond
	}
	if final {
		r.activeMS = run.ActiveMS
	}
	r.runStatus = run.Status
	r.continued = continuedText(run.Ending)
	if final && run.EndedAt != nil {
		r.endedAt = *run.EndedAt
	}
	if len(r.byID) == 0 && len(run.Steps) > len(r.slab) {
		// The run's steps, made at once: a replay of a long run lists them all.
		r.byID = make(map[string]*stepState, len(run.Steps))
		r.slab = make([]stepState, len(run.Steps))
		r.steps = make([]*stepState, 0, len(run.Steps))
	}
	for i := range run.Steps {
		res := &run.Steps[i]
		s := r.step(res.ID)
		if final && s.status == engine.StepRunning && res.Status == engine.StepPending {
			// Stopped in flight: the record says pending again (resume
			// runs it from the start); the view says it was stopped.
			s.status = engine.StepPending
			s.stopped = true
			if !s.started.IsZero() && !r.endedAt.IsZero() {
				s.duration = r.endedAt.Sub(s.started)
			}
			continue
		}
		s.setResult(res)
	}
	if final {
		r.sumUsage()
		r.usage = run.Usage
		r.cost = run.CostUSD
	}
}

// setResult takes what a step's record says.
func (s *stepState) setResult(res *engine.StepResult) {
	if res.Status != "" {
		s.status = res.Status
	}
	s.reused = res.Reused
	s.reason, s.brief = stepReason(res, false), stepReason(res, true)
	if res.Attempts > 0 {
		s.attempt = res.Attempts
	}
	if res.StartedAt != nil {
		s.started = *res.StartedAt
	}
	s.duration = time.Duration(res.DurationMS) * time.Millisecond
	s.usage = res.Usage
	s.costKnown = res.CostUSD != nil
	s.cost = 0
	if res.CostUSD != nil {
		s.cost = *res.CostUSD
	}
	s.errLine, s.continued = "", res.Continued
	if res.Error != nil {
		s.errLine = errSummary(*res.Error)
	}
	if res.Wait != nil && !res.Wait.Answered {
		s.question = firstLine(res.Wait.Question)
	}
	if res.Wait != nil && res.Wait.Answered {
		if b, err := json.Marshal(res.Wait.Answer); err == nil {
			s.answer = textcut.Runes(string(b), 60)
		}
	}
	if n := max(len(res.Items), res.ItemCount); n > 0 {
		s.total = n
		// A step that has not ended runs its failed items again: only
		// the completed ones count as done.
		ended := res.Status == engine.StepCompleted || res.Status == engine.StepFailed || res.Status == engine.StepSkipped
		s.done, s.failed = 0, 0
		for _, it := range res.Items {
			switch {
			case it.Status == engine.StepCompleted:
				s.done++
			case ended && (it.Status == engine.StepFailed || it.Status == engine.StepSkipped):
				s.done++
				if it.Status == engine.StepFailed {
					s.failed++
				}
			}
		}
	}
	if res.Status != engine.StepRunning {
		s.retryNote, s.callRetry, s.streamLine = "", false, ""
	}
}

// sumUsage totals what the run's own steps used; steps a replay reused were
// paid for by the run they came from.
func (r *runState) sumUsage() {
	r.usage, r.cost, r.costKnown = providers.Usage{}, 0, true
	for _, s := range r.steps {
		if s.reused {
			continue
		}
		r.usage = r.usage.Add(s.usage)
		r.cost += s.cost
		if !s.costKnown && s.usage.Total() > 0 {
			r.costKnown = false
		}
	}
}

// itemCounts counts a foreach step's items: "3/10 done", "1/2 done, 1
// failed" (done ones completed; failed ones are not done).
func itemCounts(completed, failed, total int) string {
	out := fmt.Sprintf("%d/%d done", completed, total)
	if failed > 0 {
		out += fmt.Sprintf(", %d failed", failed)
	}
	return out
}

// items is itemCounts for the step's items.
func (s *stepState) items() string { return itemCounts(s.done-s.failed, s.failed, s.total) }
