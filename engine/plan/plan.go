// Package plan is the scheduling of a run as pure functions: given a
// flow's dependency graph and what is recorded, which steps are ready,
// what a finished step frees, and how the run ends. It holds no
// goroutines, clocks, channels or I/O, so that the local executor (the
// engine's goroutines) and a durable-workflow driver (a Temporal
// workflow, which must be deterministic) drive the same decisions.
package plan

import "github.com/kitaruhq/kitaru/engine/runstore"

// Graph is what the scheduler needs of a flow: its steps in a dependency
// order (the order ready steps are taken in) and each step's dependencies.
type Graph interface {
	Topo() []string
	Deps(id string) []string
}

// Dependents is what a Graph may also have: the steps that depend
// directly on id. A frontier over such a graph keeps no copy of its edges.
type Dependents interface {
	Dependents(id string) []string
}

// Frontier tracks which steps wait for how many dependencies.
type Frontier struct {
	missing map[string]int
	succ    map[string][]string // the edges into waiting steps, without dependents
	deps    Dependents
	ready   []string
}

// Settled says whether a step has a state already (recorded, or reused by
// a replay) and whether that state lets the steps that depend on it be
// decided (completed, skipped or failed: a step after a failure runs or is
// skipped by its if; only a step that waits for an answer holds them).
type Settled func(id string) (has, ok bool)

// NewFrontier starts scheduling g with the states already known: steps
// without one wait for their dependencies that are not ok yet.
func NewFrontier(g Graph, settled Settled) *Frontier {
	topo := g.Topo()
	waiting := 0
	for _, id := range topo {
		if has, _ := settled(id); !has {
			waiting++
		}
	}
	f := &Frontier{missing: make(map[string]int, waiting)}
	f.deps, _ = g.(Dependents)
	if f.deps == nil {
		f.succ = make(map[string][]string, waiting)
	}
	for _, id := range topo {
		// Only steps without a state wait, so only their edges are kept:
		// a replay of the last step of a long run schedules one step.
		if has, _ := settled(id); has {
			continue
		}
		n := 0
		for _, d := range g.Deps(id) {
			if f.deps == nil {
				f.succ[d] = append(f.succ[d], id)
			}
			if _, ok := settled(d); !ok {
				n++
			}
		}
		f.missing[id] = n
		if n == 0 {
			f.ready = append(f.ready, id)
		}
	}
	return f
}

// Next takes the next ready step, in the graph's order of readiness.
func (f *Frontier) Next() (string, bool) {
	if len(f.ready) == 0 {
		return "", false
	}
	id := f.ready[0]
	f.ready = f.ready[1:]
	delete(f.missing, id)
	return id, true
}

// Finished records a step's end: when ok (it completed, was skipped or
// failed), the steps waiting only for it become ready, to run or be
// skipped. A step that waits for an answer frees nothing, and what depends
// on it stays unscheduled.
func (f *Frontier) Finished(id string, ok bool) {
	if !ok {
		return
	}
	next := f.succ[id]
	if f.deps != nil {
		next = f.deps.Dependents(id)
	}
	for _, s := range next {
		if n, waits := f.missing[s]; waits {
			f.missing[s] = n - 1
			if n == 1 {
				f.ready = append(f.ready, s)
			}
		}
	}
}

// Unsettled is how many steps still wait (ready ones included).
func (f *Frontier) Unsettled() int { return len(f.missing) }

// Ending is how a run ended, as data: cli words it.
type Ending struct {
	Status runstore.RunStatus
	Why    Why
	Step   string // the step it is about (a failed or waiting step)
	// Continued are the steps that failed with continue_on_error, in
	// file order: the run's status does not show them.
	Continued []string
}

// Why names the cause of an ending: the code the run record keeps.
type Why = runstore.EndCode

// The causes of an ending.
const (
	WhyCompleted   = runstore.EndCompleted
	WhyStepFailed  = runstore.EndStepFailed  // Step failed
	WhyWaiting     = runstore.EndWaiting     // Step (the first in file order) waits for an answer
	WhyCancelled   = runstore.EndCancelled   // someone asked the run to stop
	WhyInterrupted = runstore.EndInterrupted // this process was stopped (a signal)
	WhyStoreFailed = runstore.EndStoreFailed // a record could not be written
	WhyNeverReady  = runstore.EndNeverReady  // Step has no state though nothing failed: a bug
)

// Stop is what stopped a run before its steps were done, if anything.
type Stop int

// The ways a run is stopped.
const (
	NotStopped Stop = iota
	StoppedByStore
	StoppedByCancel
	StoppedByInterrupt
)

// Verdict is how a run ends, given how it was stopped and each step's
// status (has: the step has one), steps in file order. A failed step for
// which continued is true (continue_on_error) does not fail the run; the
// ending lists it.
func Verdict(order []string, status func(id string) (st runstore.StepStatus, has bool), continued func(id string) bool, stop Stop) Ending {
	switch stop {
	case StoppedByStore:
		return Ending{Status: runstore.RunInterrupted, Why: WhyStoreFailed}
	case StoppedByCancel:
		return Ending{Status: runstore.RunCancelled, Why: WhyCancelled}
	case StoppedByInterrupt:
		return Ending{Status: runstore.RunInterrupted, Why: WhyInterrupted}
	}
	waiting, failed := "", ""
	var cont []string
	for _, id := range order {
		st, has := status(id)
		if !has {
			continue
		}
		switch {
		case st == runstore.StepFailed && continued(id):
			cont = append(cont, id)
		case st == runstore.StepFailed:
			if failed == "" {
				failed = id
			}
		case st == runstore.StepWaiting:
			if waiting == "" {
				waiting = id
			}
		}
	}
	switch {
	case failed != "":
		return Ending{Status: runstore.RunFailed, Why: WhyStepFailed, Step: failed, Continued: cont}
	case waiting != "":
		return Ending{Status: runstore.RunWaiting, Why: WhyWaiting, Step: waiting, Continued: cont}
	}
	for _, id := range order {
		if _, has := status(id); !has {
			return Ending{Status: runstore.RunFailed, Why: WhyNeverReady, Step: id, Continued: cont}
		}
	}
	return Ending{Status: runstore.RunCompleted, Why: WhyCompleted, Continued: cont}
}
