package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
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

// A run with a budget is refused before it is recorded when a workflow
// would drive it (its activities would not keep the limits): started,
// replayed or retried with one.
func TestDrivenRunWithABudgetIsRefused(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	ctx := context.Background()
	tref := runstore.TemporalRef{Namespace: "default", TaskQueue: "kitaru"}
	budgeted := te.flow("name: spend\nbudget: {max_cost_usd: 1}\nsteps:\n  a: {kind: checkpoint, value: 1}\n")
	plain := te.flow("name: plain\nsteps:\n  a: {kind: checkpoint, value: 1}\n")
	local := te.start(plain, nil)
	failed := te.start(te.flow("name: fails\nsteps:\n  a: {kind: checkpoint, run: exit 1}\n"), nil)
	tries := map[string]func() error{
		"the flow's budget:": func() error {
			_, err := te.eng.CreateDriven(ctx, StartOptions{Flow: budgeted, Inputs: map[string]any{}}, tref)
			return err
		},
		"--max-tokens": func() error {
			_, err := te.eng.CreateDriven(ctx, StartOptions{Flow: plain, Inputs: map[string]any{}, Budget: flowspec.Budget{MaxTokens: 10}}, tref)
			return err
		},
		"a replay with --max-cost": func() error {
			_, err := te.eng.ReplayDriven(ctx, ReplayOptions{Source: local.ID, From: "a", Budget: flowspec.Budget{MaxCostUSD: 1}}, tref)
			return err
		},
		"a retry with --max-cost": func() error {
			_, err := te.eng.RetryDriven(ctx, failed.ID, 0, tref, WithBudget(flowspec.Budget{MaxCostUSD: 1}))
			return err
		},
	}
	before, err := te.eng.List(ctx, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for name, try := range tries {
		var ue *UsageError
		err := try()
		if !errors.As(err, &ue) || !errors.Is(err, ErrDrivenBudget) {
			t.Errorf("%s on Temporal: %v, want ErrDrivenBudget", name, err)
		}
		if r := runstore.RemedyOf(err); r == nil || r.Do != runstore.RemedyRunHere {
			t.Errorf("%s on Temporal: the way out is %+v, want to run it here", name, r)
		}
	}
	if after, _ := te.eng.List(ctx, ListFilter{}); len(after) != len(before) {
		t.Errorf("refused runs were recorded: %d runs, %d before", len(after), len(before))
	}
	if run, _ := te.eng.Get(ctx, failed.ID); run.Status != RunFailed {
		t.Errorf("the failed run was changed: %s", run.Status)
	}
}
