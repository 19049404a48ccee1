package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// failureFlow has one failure continue_on_error lets pass (risky) and one
// that fails the run (hard), with steps after each that show how they are
// decided.
const failureFlow = `
name: failures
steps:
  risky:
    kind: checkpoint
    run: echo x >> COUNTER/risky; echo the disk is on fire >&2; exit 3
    continue_on_error: true
  after_risky:
    kind: checkpoint
    value: ${{ steps.risky.status }}
  reads_risky:
    kind: checkpoint
    value: '${{ steps.risky.error contains "on fire" }}'
  on_risky_failure:
    kind: checkpoint
    needs: [risky]
    if: failure()
    value: ran
  on_risky_success:
    kind: checkpoint
    needs: [risky]
    if: success()
    value: ran
  hard:
    kind: checkpoint
    run: echo x >> COUNTER/hard; test -f COUNTER/fixed || exit 4
  after_hard:
    kind: checkpoint
    needs: [hard]
    run: echo x >> COUNTER/after_hard
  chain:
    kind: checkpoint
    needs: [after_hard]
    value: later
  checks_hard:
    kind: checkpoint
    if: steps.hard.output == ""
    value: no output
  guarded:
    kind: checkpoint
    if: failure() && steps.hard.status == "failed"
    value: ${{ steps.hard.error }}
  cleanup:
    kind: checkpoint
    needs: [chain]
    if: failure()
    run: echo x >> COUNTER/cleanup
  report:
    kind: checkpoint
    needs: [hard]
    if: always()
    value: hard ${{ steps.hard.status }}
`

// How each step of failureFlow is decided: success() is implied in an if
// without a status function, a continued failure counts as completed for
// the steps after it, failure() sees a failure further up.
func TestFailureHandling(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(failureFlow), nil)
	wantStatus(t, run, RunFailed)
	hardFailed := &Reason{Code: runstore.ReasonDependencyFailed, Step: "hard"}
	tests := []struct {
		id     string
		status StepStatus
		output any
		why    *Reason
	}{
		{id: "risky", status: StepFailed},
		{id: "after_risky", status: StepCompleted, output: "failed"},
		{id: "reads_risky", status: StepCompleted, output: true},
		{id: "on_risky_failure", status: StepSkipped, why: &Reason{Code: runstore.ReasonIfFalse}},
		{id: "on_risky_success", status: StepCompleted, output: "ran"},
		{id: "hard", status: StepFailed},
		{id: "after_hard", status: StepSkipped, why: hardFailed},
		{id: "chain", status: StepSkipped, why: hardFailed},
		{id: "checks_hard", status: StepSkipped, why: hardFailed},
		{id: "guarded", status: StepCompleted},
		{id: "cleanup", status: StepCompleted},
		{id: "report", status: StepCompleted, output: "hard failed"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := step(t, run, tt.id)
			if got.Status != tt.status {
				t.Fatalf("status %s, want %s (why %+v)", got.Status, tt.status, got.Why)
			}
			if tt.output != nil && got.Output != tt.output {
				t.Errorf("output %#v, want %#v", got.Output, tt.output)
			}
			if tt.why != nil && (got.Why == nil || *got.Why != *tt.why) {
				t.Errorf("why %+v, want %+v", got.Why, tt.why)
			}
		})
	}
	if r := step(t, run, "risky"); !r.Continued || r.Error == nil || !strings.Contains(*r.Error, "on fire") {
		t.Errorf("risky: continued %v, error %v", r.Continued, deref(r.Error))
	}
	if r := step(t, run, "hard"); r.Continued {
		t.Error("hard failed without continue_on_error, but its record says continued")
	}
	if g := step(t, run, "guarded").Output; g == nil || !strings.Contains(g.(string), "exited with status 4") {
		t.Errorf("guarded read hard's error as %#v", g)
	}
	want := Ending{Code: runstore.EndStepFailed, Step: "hard", Continued: []string{"risky"}}
	if run.Ending == nil || !reflect.DeepEqual(*run.Ending, want) {
		t.Errorf("ending %+v, want %+v", run.Ending, want)
	}
	if n := te.count("after_hard"); n != 0 {
		t.Errorf("after_hard ran %d times", n)
	}

	// A retry runs the failure again, not the continued one, and decides
	// again every step after it: the cleanup no longer runs.
	te.touch("fixed")
	again, err := te.eng.Retry(context.Background(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, again, RunCompleted)
	for id, st := range map[string]StepStatus{
		"hard": StepCompleted, "after_hard": StepCompleted, "chain": StepCompleted, "report": StepCompleted,
		"checks_hard": StepCompleted, "guarded": StepSkipped, "cleanup": StepSkipped, "risky": StepFailed,
	} {
		if got := step(t, again, id).Status; got != st {
			t.Errorf("after the retry %s is %s, want %s", id, got, st)
		}
	}
	if got := step(t, again, "report").Output; got != "hard completed" {
		t.Errorf("report %#v after the retry", got)
	}
	for name, want := range map[string]int{"risky": 1, "hard": 2, "after_hard": 1, "cleanup": 1} {
		if got := te.count(name); got != want {
			t.Errorf("%s ran %d times, want %d", name, got, want)
		}
	}
	if again.Ending == nil || !reflect.DeepEqual(*again.Ending, Ending{Code: runstore.EndCompleted, Continued: []string{"risky"}}) {
		t.Errorf("ending after the retry %+v", again.Ending)
	}
}

// A run whose only failures were continued completes, says which they
// were, and its output can read their errors.
func TestContinuedFailureCompletesTheRun(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: continued
steps:
  optional:
    kind: checkpoint
    run: echo x >> COUNTER/optional; echo no network >&2; exit 1
    continue_on_error: true
  main:
    kind: checkpoint
    value: done
output: '${{ {"main": steps.main.output, "optional": steps.optional.status, "why": steps.optional.error} }}'
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if run.Error != nil {
		t.Errorf("a completed run has the error %q", *run.Error)
	}
	if run.Ending == nil || !reflect.DeepEqual(run.Ending.Continued, []string{"optional"}) {
		t.Errorf("ending %+v, want optional continued", run.Ending)
	}
	out, _ := run.Output.(map[string]any)
	if out["optional"] != "failed" || !strings.Contains(fmt.Sprint(out["why"]), "no network") || out["main"] != "done" {
		t.Errorf("output %#v", run.Output)
	}

	// A replay reuses the continued failure as it reuses a completion.
	rep, err := te.eng.Replay(context.Background(), ReplayOptions{Source: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, RunCompleted)
	if o := step(t, rep, "optional"); !o.Reused || o.Status != StepFailed {
		t.Errorf("the replay's optional: reused %v, status %s", o.Reused, o.Status)
	}
	if te.count("optional") != 1 {
		t.Errorf("optional ran %d times", te.count("optional"))
	}
	// --from it runs it again.
	rep, err = te.eng.Replay(context.Background(), ReplayOptions{Source: run.ID, From: "optional"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, RunCompleted)
	if te.count("optional") != 2 {
		t.Errorf("optional ran %d times after --from it, want 2", te.count("optional"))
	}
}

// Over random small graphs with random failures, continue_on_error and
// status functions, no step is left pending, each step is decided as the
// rules say, and the run fails exactly when a failure was not continued.
func TestNoStepLeftPending(t *testing.T) {
	t.Parallel()
	conds := []string{"", "success()", "failure()", "always()", "!failure()"}
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 13))
			n := 2 + rng.IntN(6)
			type node struct {
				deps  []int
				fails bool
				cont  bool
				cond  string
			}
			nodes := make([]node, n)
			var b strings.Builder
			b.WriteString("name: random\nsteps:\n")
			for i := range nodes {
				nd := &nodes[i]
				for j := range i {
					if rng.IntN(3) == 0 {
						nd.deps = append(nd.deps, j)
					}
				}
				nd.fails, nd.cont = rng.IntN(3) == 0, rng.IntN(2) == 0
				nd.cond = conds[rng.IntN(len(conds))]
				fmt.Fprintf(&b, "  s%d:\n    kind: checkpoint\n", i)
				if nd.fails {
					b.WriteString("    run: exit 1\n")
				} else {
					b.WriteString("    run: echo ok\n")
				}
				if nd.cont {
					b.WriteString("    continue_on_error: true\n")
				}
				if nd.cond != "" {
					fmt.Fprintf(&b, "    if: %q\n", nd.cond) // !x is a YAML tag unquoted
				}
				if len(nd.deps) > 0 {
					var ids []string
					for _, d := range nd.deps {
						ids = append(ids, fmt.Sprintf("s%d", d))
					}
					fmt.Fprintf(&b, "    needs: [%s]\n", strings.Join(ids, ", "))
				}
			}
			te := newEnv(t)
			run := te.start(te.flow(b.String()), nil)

			// The model: what each step should end as.
			want := make([]StepStatus, n)
			failedUp := make([]bool, n) // a failure not continued, here or upstream
			runFails := false
			var cont []string
			for i, nd := range nodes {
				up, skippedDep := false, false
				for _, d := range nd.deps {
					up = up || failedUp[d]
					skippedDep = skippedDep || want[d] == StepSkipped
				}
				afterFailure := strings.Contains(nd.cond, "failure") || strings.Contains(nd.cond, "always")
				var runs bool
				switch {
				case !afterFailure && (up || skippedDep):
					runs = false
				case nd.cond == "failure()":
					runs = up
				case nd.cond == "!failure()":
					runs = !up
				default:
					runs = true
				}
				switch {
				case !runs:
					want[i] = StepSkipped
				case nd.fails:
					want[i] = StepFailed
					if nd.cont {
						cont = append(cont, fmt.Sprintf("s%d", i))
					} else {
						runFails = true
					}
				default:
					want[i] = StepCompleted
				}
				failedUp[i] = up || want[i] == StepFailed && !nd.cont
			}
			for i := range nodes {
				got := step(t, run, fmt.Sprintf("s%d", i))
				if got.Status == StepPending {
					t.Errorf("s%d is left pending", i)
				}
				if got.Status != want[i] {
					t.Errorf("s%d is %s, want %s (why %+v)", i, got.Status, want[i], got.Why)
				}
			}
			if (run.Status == RunFailed) != runFails || run.Status != RunFailed && run.Status != RunCompleted {
				t.Errorf("run %s, want failed: %v", run.Status, runFails)
			}
			if run.Ending != nil && !slices.Equal(run.Ending.Continued, cont) {
				t.Errorf("continued %v, want %v", run.Ending.Continued, cont)
			}
			if t.Failed() {
				t.Logf("flow:\n%s", b.String())
			}
		})
	}
}

// touch makes a file in the counter directory, which a step may test for.
func (te *testEnv) touch(name string) {
	te.t.Helper()
	if err := os.WriteFile(filepath.Join(te.counter, name), nil, 0o600); err != nil {
		te.t.Fatal(err)
	}
}

// Giving a failed step continue_on_error and replaying the edited flow
// runs it again and decides again what followed it: the skip its failure
// caused is not reused.
func TestReplayAfterContinueOnErrorIsAdded(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	src := `
name: toggled
steps:
  flaky:
    kind: checkpoint
    run: echo x >> COUNTER/flaky; exit 1
  after:
    kind: checkpoint
    needs: [flaky]
    value: went on
`
	run := te.start(te.flow(src), nil)
	wantStatus(t, run, RunFailed)
	edited := te.flow(strings.Replace(src, "exit 1\n", "exit 1\n    continue_on_error: true\n", 1))
	rep, err := te.eng.Replay(context.Background(), ReplayOptions{Source: run.ID, Flow: edited})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, RunCompleted)
	if a := step(t, rep, "after"); a.Status != StepCompleted || a.Reused {
		t.Errorf("after: %s, reused %v; want it run", a.Status, a.Reused)
	}
	if f := step(t, rep, "flaky"); !f.Continued || f.Reused || te.count("flaky") != 2 {
		t.Errorf("flaky: continued %v, reused %v, ran %d times", f.Continued, f.Reused, te.count("flaky"))
	}
}

// A cancel stops everything: an always() step does not run after it.
func TestCancelStopsAlwaysSteps(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(strings.Replace(stopFlow, "    run: echo x >> COUNTER/after; echo done", "    if: always()\n    run: echo x >> COUNTER/after; echo done", 1))
	if !f.Step("after").IfAfterFailure {
		t.Fatal("the flow's after step has no always()")
	}
	started := make(chan string, 1)
	eng := New(Config{Store: te.store, Observer: ObserverFunc(func(e Event) {
		if e.Type == EventStepStarted && e.Step == "slow" {
			started <- e.RunID
		}
	})})
	done := make(chan *Run, 1)
	go func() {
		r, err := eng.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	id := <-started
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(te.counter, "sleep.pid")); return err == nil })
	if _, err := te.eng.Cancel(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	run := <-done
	wantStatus(t, run, RunCancelled)
	// It can no longer run: skipped, saying why, not left pending; so
	// too when the record is read back.
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Run{run, got} {
		a := step(t, r, "after")
		if te.count("after") != 0 || a.Status != StepSkipped || a.Why == nil || a.Why.Code != runstore.ReasonRunCancelled {
			t.Errorf("after the cancel the always() step ran %d times and is %s (%+v)", te.count("after"), a.Status, a.Why)
		}
	}
}
