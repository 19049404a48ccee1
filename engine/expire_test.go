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
