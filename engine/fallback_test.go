package engine

import (
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

const listFlow = `
name: lists
steps:
  ask:
    kind: llm
    model: [fast, slow]
    prompt: ask
`

// A replay runs a step with a model list again when any model of the list
// resolves elsewhere now, the fallback too: with it moved, the model that
// answers may differ. The change named is the first in the list's order.
func TestReplayOfModelLists(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		now    map[string]string
		change *ModelChange // nil: reused
	}{
		{"nothing moved", map[string]string{"fast": "openai/a", "slow": "openai/s"}, nil},
		{"the first moved", map[string]string{"fast": "openai/b", "slow": "openai/s"},
			&ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast"}},
		{"the fallback moved", map[string]string{"fast": "openai/a", "slow": "openai/t"},
			&ModelChange{Was: "openai/s", Now: "openai/t", WasAlias: "slow", NowAlias: "slow"}},
		{"both moved", map[string]string{"fast": "openai/b", "slow": "openai/t"},
			&ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			te.models.reg = registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "")
			first := te.start(te.flow(listFlow), nil)
			wantStatus(t, first, RunCompleted)
			te.models.reg = registry(c.now, "")
			run := te.completedReplay(ReplayOptions{Source: first.ID})
			want := Reason{Code: runstore.ReasonUnchanged, Run: "SRC"}
			if c.change != nil {
				want = Reason{Code: runstore.ReasonModelChanged, Model: c.change}
			}
			wantWhy(t, run, "ask", first.ID, want)
			if reused := step(t, run, "ask").Reused; reused != (c.change == nil) {
				t.Errorf("reused %v", reused)
			}
		})
	}
}

// A call a running step is about to make once the budget is spent is
// refused: the step stops unrecorded, as an interrupted one, and what its
// first call spent stays counted, in the run's totals at once and in the
// step's record once it ran again.
func TestBudgetRefusesTheNextCallOfARunningStep(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	// The fake model never answers JSON, so the step asks again.
	f := te.flow(`
name: refuse
budget: {max_tokens: 10}
steps:
  ask:
    kind: llm
    prompt: give JSON
    schema: {type: object}
    schema_retries: 1
`)
	first := te.start(f, nil)
	wantStatus(t, first, RunFailed)
	if first.Ending.Code != runstore.EndBudgetExceeded || first.Usage.Total() != 15 || te.models.calls != 1 {
		t.Fatalf("ending %+v, usage %+v, %d calls: want budget exceeded after one call of 15 tokens", first.Ending, first.Usage, te.models.calls)
	}
	got, err := te.eng.Get(bg, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Run{first, got} {
		if s := step(t, r, "ask"); s.Status != StepPending || s.Why == nil || s.Why.Code != runstore.ReasonHeldByBudget {
			t.Errorf("the refused step is %s (%+v), want pending, held by the budget", s.Status, s.Why)
		}
	}
	again, err := te.eng.Retry(bg, first.ID, 0, WithBudget(flowspec.Budget{MaxTokens: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	s := step(t, again, "ask")
	// The conversation the budget stopped goes on (its first turn is
	// recorded, not asked again): one more call, and both counted.
	if te.models.calls != 2 || s.Attempts != 2 || s.Usage.Total() != 30 || again.Usage.Total() != 30 || len(s.Turns) != 2 {
		t.Errorf("%d calls; step attempts %d, usage %d, %d turns; run usage %d: want 2, 2, 30, 2, 30", te.models.calls, s.Attempts, s.Usage.Total(), len(s.Turns), again.Usage.Total())
	}
	if len(s.AttemptsDetail) != 2 || s.AttemptsDetail[0].Error == nil || !strings.Contains(*s.AttemptsDetail[0].Error, "budget") {
		t.Errorf("attempts %+v: the first should say the budget stopped it", s.AttemptsDetail)
	}
}
