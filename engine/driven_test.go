package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A run a Temporal workflow executes is not run, answered or cancelled by
// a process that is not its driver: that would run its steps twice, or
// end it under its workflow.
func TestDrivenRunIsNotTakenHere(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: ask
steps:
  approval: {kind: wait, question: "ok?", schema: {type: boolean}}
`)
	ctx := context.Background()
	sp, err := te.eng.CreateDriven(ctx, StartOptions{Flow: f, Inputs: map[string]any{}}, runstore.TemporalRef{Namespace: "default", TaskQueue: "kitaru"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := te.eng.DriveStep(ctx, sp.Run, "approval", nil); err != nil || out.Status != StepWaiting {
		t.Fatalf("drive the wait: %+v, %v", out, err)
	}
	if err := te.eng.DriveMark(ctx, sp.Run, planWaiting("approval")); err != nil {
		t.Fatal(err)
	}
	tries := map[string]func() error{
		"resume": func() error { _, err := te.eng.Resume(ctx, sp.Run, 0); return err },
		"retry":  func() error { _, err := te.eng.Retry(ctx, sp.Run, 0); return err },
		"answer": func() error { _, err := te.eng.Answer(ctx, sp.Run, "", json.RawMessage(`true`)); return err },
		"abort":  func() error { _, err := te.eng.Abort(ctx, sp.Run, ""); return err },
		"cancel": func() error { _, err := te.eng.Cancel(ctx, sp.Run); return err },
	}
	for name, try := range tries {
		var ue *UsageError
		if err := try(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "Temporal workflow") {
			t.Errorf("%s of a run on Temporal: %v", name, err)
		}
	}
	run, err := te.eng.Get(ctx, sp.Run)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != RunWaiting || run.Steps[0].Status != StepWaiting {
		t.Fatalf("the run was changed: %s, step %s", run.Status, run.Steps[0].Status)
	}
}

func planWaiting(step string) plan.Ending {
	return plan.Ending{Status: RunWaiting, Why: plan.WhyWaiting, Step: step}
}
