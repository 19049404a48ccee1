package plan

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

type graph map[string][]string // step -> deps

func (g graph) Topo() []string {
	// The tests' steps are named in a dependency order.
	var ids []string
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, ok := g[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}
func (g graph) Deps(id string) []string { return g[id] }

// diamond: a -> b, c -> d; e alone.
var diamond = graph{"a": nil, "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": nil}

// linked is a graph that also gives each step's dependents (as the
// engine's does), which the frontier then reads instead of its own copy.
type linked struct{ graph }

func (g linked) Dependents(id string) []string {
	var out []string
	for _, s := range g.Topo() {
		for _, d := range g.graph[s] {
			if d == id {
				out = append(out, s)
			}
		}
	}
	return out
}

// end is a step finishing, ok or not.
type end struct {
	id string
	ok bool
}

func TestFrontier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		known   map[string]bool // step -> ok
		ends    []end           // finished in this order, each once ready
		started []string        // the order steps are taken
		left    int
	}{
		{"fresh run", nil, []end{{"a", true}, {"e", true}, {"b", true}, {"c", true}, {"d", true}},
			[]string{"a", "e", "b", "c", "d"}, 0},
		{"a waits for an answer: what needs it never starts", nil, []end{{"a", false}, {"e", true}},
			[]string{"a", "e"}, 3},
		{"one of d's deps waits", nil, []end{{"a", true}, {"e", true}, {"b", true}, {"c", false}},
			[]string{"a", "e", "b", "c"}, 1},
		{"resume: a and b recorded", map[string]bool{"a": true, "b": true}, []end{{"c", true}, {"e", true}, {"d", true}},
			[]string{"c", "e", "d"}, 0},
		{"resume: b's record forgotten, c still waiting", map[string]bool{"a": true, "c": false}, []end{{"b", true}, {"e", true}},
			[]string{"b", "e"}, 1},
		{"all recorded", map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}, nil, nil, 0},
		{"replay of the last step: the others reused", map[string]bool{"a": true, "b": true, "c": true, "e": true}, []end{{"d", true}},
			[]string{"d"}, 0},
		{"a step recorded below one that runs", map[string]bool{"c": true}, []end{{"a", true}, {"e", true}, {"b", true}, {"d", true}},
			[]string{"a", "e", "b", "d"}, 0},
	}
	for _, tc := range tests {
		for _, g := range []Graph{diamond, linked{diamond}} {
			t.Run(fmt.Sprintf("%s/%T", tc.name, g), func(t *testing.T) {
				t.Parallel()
				f := NewFrontier(g, func(id string) (bool, bool) { ok, has := tc.known[id]; return has, ok })
				outcome := map[string]bool{}
				for _, e := range tc.ends {
					outcome[e.id] = e.ok
				}
				var started, running []string
				for {
					for {
						id, ok := f.Next()
						if !ok {
							break
						}
						started = append(started, id)
						running = append(running, id)
					}
					if len(running) == 0 {
						break
					}
					id := running[0]
					running = running[1:]
					f.Finished(id, outcome[id])
				}
				if !reflect.DeepEqual(started, tc.started) {
					t.Fatalf("started %v, want %v", started, tc.started)
				}
				if f.Unsettled() != tc.left {
					t.Fatalf("%d steps left waiting, want %d", f.Unsettled(), tc.left)
				}
			})
		}
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	order := []string{"a", "b", "c"}
	tests := []struct {
		name   string
		status map[string]runstore.StepStatus
		stop   Stop
		want   Ending
	}{
		{"all done", map[string]runstore.StepStatus{"a": "completed", "b": "skipped", "c": "completed"}, NotStopped,
			Ending{Status: runstore.RunCompleted, Why: WhyCompleted}},
		{"a failure wins over waiting", map[string]runstore.StepStatus{"a": "waiting", "b": "failed"}, NotStopped,
			Ending{Status: runstore.RunFailed, Why: WhyStepFailed, Step: "b"}},
		{"the first failure in file order", map[string]runstore.StepStatus{"a": "completed", "b": "failed", "c": "failed"}, NotStopped,
			Ending{Status: runstore.RunFailed, Why: WhyStepFailed, Step: "b"}},
		{"waiting", map[string]runstore.StepStatus{"a": "completed", "b": "waiting", "c": "waiting"}, NotStopped,
			Ending{Status: runstore.RunWaiting, Why: WhyWaiting, Step: "b"}},
		{"cancelled, whatever the steps", map[string]runstore.StepStatus{"b": "failed"}, StoppedByCancel,
			Ending{Status: runstore.RunCancelled, Why: WhyCancelled}},
		{"interrupted", nil, StoppedByInterrupt, Ending{Status: runstore.RunInterrupted, Why: WhyInterrupted}},
		{"the store failed", nil, StoppedByStore, Ending{Status: runstore.RunInterrupted, Why: WhyStoreFailed}},
		{"a step with no state", map[string]runstore.StepStatus{"a": "completed", "c": "completed"}, NotStopped,
			Ending{Status: runstore.RunFailed, Why: WhyNeverReady, Step: "b"}},
		{"only continued failures: completed, and said", map[string]runstore.StepStatus{"a": "failed", "b": "completed", "c": "skipped"}, NotStopped,
			Ending{Status: runstore.RunCompleted, Why: WhyCompleted, Continued: []string{"a"}}},
		{"a failure besides a continued one", map[string]runstore.StepStatus{"a": "failed", "b": "failed", "c": "completed"}, NotStopped,
			Ending{Status: runstore.RunFailed, Why: WhyStepFailed, Step: "b", Continued: []string{"a"}}},
		{"a continued failure besides a wait", map[string]runstore.StepStatus{"a": "failed", "b": "waiting"}, NotStopped,
			Ending{Status: runstore.RunWaiting, Why: WhyWaiting, Step: "b", Continued: []string{"a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// a has continue_on_error.
			continued := func(id string) bool { return id == "a" }
			got := Verdict(order, func(id string) (runstore.StepStatus, bool) { st, ok := tc.status[id]; return st, ok }, continued, tc.stop)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Verdict = %+v, want %+v", got, tc.want)
			}
		})
	}
}
