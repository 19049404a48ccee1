package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// budgetSpy records the budgets the commands hand the engine.
type budgetSpy struct {
	*fakeRunner
	start  flowspec.Budget
	cont   int // options given to resume or retry
	called string
}

func (s *budgetSpy) Start(ctx context.Context, o engine.StartOptions) (*engine.Run, error) {
	s.start = o.Budget
	return s.fakeRunner.Start(ctx, o)
}

func (s *budgetSpy) Resume(ctx context.Context, ref string, p int, opts ...engine.ContinueOption) (*engine.Run, error) {
	s.cont, s.called = len(opts), "resume"
	return s.fakeRunner.Resume(ctx, ref, p)
}

func (s *budgetSpy) Retry(ctx context.Context, ref string, p int, opts ...engine.ContinueOption) (*engine.Run, error) {
	s.cont, s.called = len(opts), "retry"
	return s.fakeRunner.Retry(ctx, ref, p)
}

// Not parallel: it swaps newRunner.
func TestBudgetFlags(t *testing.T) {
	flow := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(flow, []byte("name: f\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args      []string
		wantCode  int
		wantStart flowspec.Budget
		wantCont  int
		wantErr   string
	}{
		{args: []string{"run", flow, "--max-cost", "2.5", "--max-tokens", "1000"}, wantStart: flowspec.Budget{MaxCostUSD: 2.5, MaxTokens: 1000}},
		{args: []string{"run", flow}},
		{args: []string{"resume", "kr-abc", "--max-tokens", "5"}, wantCont: 1},
		{args: []string{"retry", "kr-abc", "--max-cost", "3"}, wantCont: 1},
		{args: []string{"retry", "kr-abc"}},
		{args: []string{"run", flow, "--max-cost", "0"}, wantCode: ExitUsage, wantErr: "--max-cost must be a number of US dollars above 0"},
		{args: []string{"resume", "kr-abc", "--max-tokens=-3"}, wantCode: ExitUsage, wantErr: "--max-tokens must be a whole number of at least 1"},
	}
	for _, c := range cases {
		spy := &budgetSpy{fakeRunner: &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunCompleted}}}
		old := newRunner
		newRunner = func(obs engine.Observer, _ io.Writer) (engine.Runner, error) {
			spy.obs = obs
			return spy, nil
		}
		_, stderr, code := runCLI(append(c.args, "--quiet")...)
		newRunner = old
		if code != c.wantCode || !strings.Contains(stderr, c.wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.wantCode, c.wantErr)
			continue
		}
		if spy.start != c.wantStart || spy.cont != c.wantCont {
			t.Errorf("%v: start budget %+v, %d continue options; want %+v, %d", c.args, spy.start, spy.cont, c.wantStart, c.wantCont)
		}
	}
	// replay takes them as ReplayOptions.Budget.
	f := &fakeRunner{run: &engine.Run{ID: "kr-new", Status: engine.RunCompleted}}
	withFake(t, f)
	if _, stderr, code := runCLI("replay", "kr-abc", "--max-tokens", "7", "--quiet"); code != 0 || f.replay.Budget != (flowspec.Budget{MaxTokens: 7}) {
		t.Errorf("replay: exit %d (%s), budget %+v", code, stderr, f.replay.Budget)
	}
}

func TestBudgetEndingWords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sp   runstore.BudgetSpent
		want []string
	}{
		{runstore.BudgetSpent{Limit: flowspec.Budget{MaxCostUSD: 2}, CostUSD: 2.04, Reached: "max_cost_usd"},
			[]string{"budget exceeded: the run has spent $2.04 of its $2.00 budget", "`kitaru resume kr-1 --max-cost USD`"}},
		{runstore.BudgetSpent{Limit: flowspec.Budget{MaxTokens: 200000}, Usage: providers.Usage{InputTokens: 150000, OutputTokens: 60000}, Reached: "max_tokens"},
			[]string{"spent 210,000 of its 200,000 tokens", "`kitaru resume kr-1 --max-tokens N`"}},
	}
	for _, c := range cases {
		sp := c.sp
		run := &engine.Run{ID: "kr-1", Status: engine.RunFailed, Ending: &engine.Ending{Code: runstore.EndBudgetExceeded, Budget: &sp},
			Remedy: &runstore.Remedy{Do: runstore.RemedyRaiseBudget, Run: "kr-1", Name: sp.Reached}}
		var out, errb bytes.Buffer
		if err := reportRun(&IO{Stdout: &out, Stderr: &errb}, false, false, run); err == nil {
			t.Error("a run its budget stopped exits 0")
		}
		got := errb.String()
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q lacks %q", got, w)
			}
		}
		if strings.Contains(got, "kitaru retry") {
			t.Errorf("%q offers a retry too", got)
		}
	}
}

// executions get shows which model answered and the ones that did not.
func TestTurnsShowFailedModels(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	turns := []engine.Turn{{Turn: 1, Model: "anthropic/claude-haiku-4-5", Usage: providers.Usage{InputTokens: 12, OutputTokens: 5},
		FailedModels: []runstore.ModelTry{{Model: "fast", Error: "openai/gpt-4o-mini answered HTTP 503 after 4 attempts: overloaded\nmore", DurationMS: 1200}}}}
	if err := writeTurns(&b, "ask", turns); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, w := range []string{"ask fell back to the next model of its list", "fast gave no answer: openai/gpt-4o-mini answered HTTP 503 after 4 attempts: overloaded",
		"anthropic/claude-haiku-4-5: answer taken"} {
		if !strings.Contains(got, w) {
			t.Errorf("%q lacks %q", got, w)
		}
	}
	if strings.Contains(got, "more") {
		t.Errorf("only an error's first line is shown: %q", got)
	}
}
