package engine

import (
	"encoding/json"
	"testing"
	"time"
)

// A wait answered after its timeout fails, and the run goes on as after
// any failed step: nothing is left pending, always() steps run, and with
// continue_on_error the steps after it run and the run completes.
func TestExpiredWaitLeavesNothingPending(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cont   string
		status RunStatus
		want   map[string]StepStatus
	}{
		{"failed", "false", RunFailed, map[string]StepStatus{"approve": StepFailed, "next": StepSkipped, "cleanup": StepCompleted}},
		{"continued", "true", RunCompleted, map[string]StepStatus{"approve": StepFailed, "next": StepCompleted, "cleanup": StepCompleted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			run := te.start(te.flow(`
name: exp
steps:
  approve:
    kind: wait
    question: "Ship it?"
    timeout: 1s
    continue_on_error: `+tc.cont+`
  next:
    kind: checkpoint
    needs: [approve]
    value: ${{ steps.approve.status }}
  cleanup:
    kind: checkpoint
    needs: [approve]
    if: ${{ always() }}
    value: cleaned
`), nil)
			wantStatus(t, run, RunWaiting)
			time.Sleep(1100 * time.Millisecond)
			run, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`"yes"`))
			if err == nil {
				t.Error("a late answer was taken")
			}
			if run == nil {
				t.Fatalf("no run after the late answer: %v", err)
			}
			wantStatus(t, run, tc.status)
			for id, st := range tc.want {
				if got := step(t, run, id).Status; got != st {
					t.Errorf("step %s is %s, want %s", id, got, st)
				}
			}
		})
	}
}

// A run whose wait's timeout ran out with nobody answering: resume fails
// the wait and goes on (nothing left pending); retry asks again, with a
// new deadline.
func TestExpiredWaitOnResumeAndRetry(t *testing.T) {
	t.Parallel()
	const src = `
name: exp
steps:
  approve: {kind: wait, question: "Ship it?", timeout: 1s}
  cleanup: {kind: checkpoint, needs: [approve], if: "${{ always() }}", value: cleaned}
`
	for _, how := range []string{"resume", "retry"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			run := te.start(te.flow(src), nil)
			wantStatus(t, run, RunWaiting)
			first := *step(t, run, "approve").Wait.Deadline
			time.Sleep(1100 * time.Millisecond)
			var err error
			if how == "resume" {
				run, err = te.eng.Resume(t.Context(), run.ID, 0)
			} else {
				run, err = te.eng.Retry(t.Context(), run.ID, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			a := step(t, run, "approve")
			switch how {
			case "resume":
				wantStatus(t, run, RunFailed)
				if a.Status != StepFailed || step(t, run, "cleanup").Status != StepCompleted {
					t.Errorf("approve %s, cleanup %s; want failed and completed", a.Status, step(t, run, "cleanup").Status)
				}
			case "retry":
				wantStatus(t, run, RunWaiting)
				if a.Wait == nil || a.Wait.Deadline == nil || !a.Wait.Deadline.After(first) {
					t.Errorf("retry did not ask again with a new deadline: %+v", a.Wait)
				}
			}
		})
	}
}
