package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

const aliasFlow = `
name: aliases
steps:
  outline:
    kind: llm
    model: fast
    prompt: outline
  draft:
    kind: llm
    model: fast
    prompt: draft ${{ steps.outline.output }}
  other:
    kind: llm
    model: slow
    prompt: other
`

func registry(aliases map[string]string, def string) providers.Registry {
	r := providers.Registry{Aliases: map[string]providers.Alias{}, Default: def}
	for a, m := range aliases {
		r.Aliases[a] = providers.Alias{Model: m}
	}
	return r
}

// A replay re-runs the llm steps whose alias now names another model and
// says so; when nothing changed it calls no model, including after a replay
// with --from reused a step whose alias had moved (its record's own run
// decides what it was answered with).
func TestReplayFollowsTheModelAnAliasNames(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	te.models.reg = registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "")
	first := te.start(te.flow(aliasFlow), nil)
	wantStatus(t, first, RunCompleted)
	calls := func() int {
		te.models.mu.Lock()
		defer te.models.mu.Unlock()
		return te.models.calls
	}
	replay := func(opts ReplayOptions) *Run {
		t.Helper()
		if opts.Source == "" {
			opts.Source = "last"
		}
		return te.completedReplay(opts)
	}
	expect := func(run *Run, wantCalls int, reasons map[string]string) {
		t.Helper()
		if n := calls(); n != wantCalls {
			t.Errorf("%d model calls so far, want %d", n, wantCalls)
		}
		for id, want := range reasons {
			s := step(t, run, id)
			if !strings.Contains(s.Reason, want) {
				t.Errorf("step %s (reused %v): reason %q, want it to say %q", id, s.Reused, s.Reason, want)
			}
		}
	}

	expect(replay(ReplayOptions{}), 3, map[string]string{"outline": "fingerprint unchanged", "other": "fingerprint unchanged"})

	te.models.reg = registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, "")
	run := replay(ReplayOptions{})
	expect(run, 5, map[string]string{
		"outline": "model changed: alias fast now resolves to openai/b, was openai/a",
		"draft":   "downstream of outline",
		"other":   "fingerprint unchanged",
	})
	if !step(t, run, "other").Reused || step(t, run, "outline").Reused {
		t.Errorf("outline reused %v, other reused %v", step(t, run, "outline").Reused, step(t, run, "other").Reused)
	}
	expect(replay(ReplayOptions{}), 5, map[string]string{"outline": "fingerprint unchanged"})

	// --from keeps outline although fast moved again, and says so; the
	// next replay still knows outline was answered by openai/b.
	te.models.reg = registry(map[string]string{"fast": "openai/c", "slow": "openai/s"}, "")
	expect(replay(ReplayOptions{From: "other"}), 6, map[string]string{
		"outline": "not downstream of --from other, though its model changed (alias fast now resolves to openai/c, was openai/b)",
	})
	expect(replay(ReplayOptions{}), 8, map[string]string{"outline": "alias fast now resolves to openai/c, was openai/b"})
}

// completedReplay replays, wants the replay completed and returns its
// record as Get reads it.
func (te *testEnv) completedReplay(opts ReplayOptions) *Run {
	te.t.Helper()
	run, err := te.eng.Replay(te.t.Context(), opts)
	if err != nil {
		te.t.Fatal(err)
	}
	wantStatus(te.t, run, RunCompleted)
	got, err := te.eng.Get(te.t.Context(), run.ID)
	if err != nil {
		te.t.Fatal(err)
	}
	return got
}

func TestModelChange(t *testing.T) {
	t.Parallel()
	ab := registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "fast")
	for _, tc := range []struct {
		name, model    string
		wasDef, nowDef string // KITARU_DEFAULT_MODEL then and now
		now            providers.Registry
		want           string
	}{
		{name: "nothing changed", model: "fast", now: ab},
		{name: "alias moved", model: "fast", now: registry(map[string]string{"fast": "openai/b"}, ""), want: "alias fast now resolves to openai/b, was openai/a"},
		{name: "another alias moved", model: "slow", now: registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, "")},
		{name: "raw model", model: "openai/x", now: registry(nil, "")},
		{name: "default alias switched", now: registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "slow"),
			want: "now openai/s (alias slow), was openai/a (alias fast)"},
		{name: "alias now gone", model: "fast", now: registry(nil, "")},
		{name: "KITARU_DEFAULT_MODEL changed", wasDef: "openai/x", nowDef: "anthropic/y", now: ab,
			want: "now anthropic/y (from KITARU_DEFAULT_MODEL), was openai/x (from KITARU_DEFAULT_MODEL)"},
		{name: "KITARU_DEFAULT_MODEL set", nowDef: "slow", now: ab,
			want: "now openai/s (alias slow, from KITARU_DEFAULT_MODEL), was openai/a (alias fast)"},
		{name: "KITARU_DEFAULT_MODEL unset", wasDef: "openai/x", now: ab,
			want: "now openai/a (alias fast), was openai/x (from KITARU_DEFAULT_MODEL)"},
		{name: "KITARU_DEFAULT_MODEL names the same model", wasDef: "openai/a", now: ab},
		{name: "a step's own model comes first", model: "slow", wasDef: "openai/x", nowDef: "anthropic/y", now: ab},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelChange(tc.model, ab, tc.wasDef, tc.now, tc.nowDef); got != tc.want {
				t.Errorf("modelChange(%q) = %q, want %q", tc.model, got, tc.want)
			}
		})
	}
}

// An llm step naming no model resolves through KITARU_DEFAULT_MODEL: a
// replay after it changed runs the step (a foreach one too) again and says
// why, and one after nothing changed reuses it. A run recorded before the
// variable was kept is judged by the model its step's record names.
func TestReplayFollowsKitaruDefaultModel(t *testing.T) {
	const flow = `
name: nomodel
steps:
  ask:
    kind: llm
    prompt: hi
  each:
    kind: llm
    foreach: ${{ ["a", "b"] }}
    prompt: say ${{ item }}
  named:
    kind: llm
    model: fast
    prompt: named
`
	te := newEnv(t)
	te.models.reg = registry(map[string]string{"fast": "openai/a"}, "")
	t.Setenv(providers.EnvDefaultModel, "openai/x")
	first := te.start(te.flow(flow), nil)
	wantStatus(t, first, RunCompleted)
	if m, err := te.store.LoadSummary(t.Context(), first.ID); err != nil || m.DefaultModel == nil || *m.DefaultModel != "openai/x" {
		t.Fatalf("the run records KITARU_DEFAULT_MODEL as %v (%v), want openai/x", m.DefaultModel, err)
	}
	replay := func(src string) *Run {
		t.Helper()
		return te.completedReplay(ReplayOptions{Source: src})
	}
	reused := func(run *Run, want map[string]bool) {
		t.Helper()
		for id, w := range want {
			if s := step(t, run, id); s.Reused != w {
				t.Errorf("step %s: reused %v, want %v (reason %q)", id, s.Reused, w, s.Reason)
			}
		}
	}
	reused(replay(first.ID), map[string]bool{"ask": true, "each": true, "named": true})

	t.Setenv(providers.EnvDefaultModel, "anthropic/y")
	run := replay(first.ID)
	reused(run, map[string]bool{"ask": false, "each": false, "named": true})
	const why = "model changed: now anthropic/y (from KITARU_DEFAULT_MODEL), was openai/x (from KITARU_DEFAULT_MODEL)"
	for _, id := range []string{"ask", "each"} {
		if r := step(t, run, id).Reason; !strings.Contains(r, why) {
			t.Errorf("step %s: reason %q, want it to say %q", id, r, why)
		}
	}
	reused(replay(run.ID), map[string]bool{"ask": true, "each": true, "named": true})

	// An older kitaru's run: no variable recorded; ask's record names the
	// model that answered (the fake caller's).
	m, err := te.store.LoadMeta(t.Context(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.DefaultModel = nil
	if err := te.store.SaveMeta(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	run = replay(first.ID)
	reused(run, map[string]bool{"ask": false, "named": true})
	if r := step(t, run, "ask").Reason; !strings.Contains(r, "model changed: now anthropic/y (from KITARU_DEFAULT_MODEL), was fake/model") {
		t.Errorf("ask of an older run: reason %q", r)
	}
}

// replay --from reuses the steps upstream of it whatever changed; their
// reason says what did.
func TestReplayFromNamesChangedUpstreamSteps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    func(te *testEnv) ReplayOptions
		reasons map[string]string // step -> its whole reason; others: no "though"
	}{
		{"edited flow", func(te *testEnv) ReplayOptions {
			return ReplayOptions{From: "c", Flow: te.flow(strings.Replace(replayFlow, "echo A-", "echo AA-", 1))}
		}, map[string]string{
			"a": "reused from SRC: not downstream of --from c, though its definition changed in the edited flow",
			"b": "reused from SRC: not downstream of --from c, though it depends on a, which changed",
		}},
		{"new input", func(*testEnv) ReplayOptions {
			return ReplayOptions{From: "d", Inputs: map[string]any{"other": "z"}}
		}, map[string]string{
			"c": "reused from SRC: not downstream of --from d, though an input it reads changed",
		}},
		{"nothing changed", func(*testEnv) ReplayOptions { return ReplayOptions{From: "d"} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			src := te.start(te.flow(replayFlow), nil)
			opts := tc.opts(te)
			opts.Source = src.ID
			run, err := te.eng.Replay(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := te.eng.Get(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range []*Run{run, got} {
				for _, s := range rec.Steps {
					want, noted := tc.reasons[s.ID]
					want = strings.ReplaceAll(want, "SRC", src.ID)
					switch {
					case noted && s.Reason != want:
						t.Errorf("step %s: reason %q, want %q", s.ID, s.Reason, want)
					case !noted && strings.Contains(s.Reason, "though"):
						t.Errorf("step %s: reason %q says something changed", s.ID, s.Reason)
					}
				}
			}
		})
	}
}

// A replay whose source lost step records (removed by hand from its
// directory, or the run holding them gone) runs again, saying why, each
// step whose record it reads, with the steps downstream of it; a lost
// record it does not read stays reused, and the records shown say it is
// missing instead of showing the step as pending.
func TestReplayOfLostRecords(t *testing.T) {
	t.Parallel()
	const missing = "its record in run SRC is missing, so it runs again"
	for _, tc := range []struct {
		name   string
		lose   func(te *testEnv, src string) string // returns the run to replay
		opts   ReplayOptions
		counts string            // executions of a b c d, the source's included
		why    map[string]string // step: its reason ("": reused)
	}{
		{name: "--from d, b lost", lose: forget("b"), opts: ReplayOptions{From: "d"}, counts: "a=1 b=2 c=1 d=2",
			why: map[string]string{"a": "", "b": missing, "c": "", "d": "--from d"}},
		{name: "--from d, a and b lost", lose: forget("a", "b"), opts: ReplayOptions{From: "d"}, counts: "a=2 b=2 c=1 d=2",
			why: map[string]string{"a": missing, "b": missing, "c": ""}},
		{name: "a lost, nothing reads it", lose: forget("a"), counts: "a=1 b=1 c=1 d=1",
			why: map[string]string{"a": "", "b": "", "c": "", "d": ""}},
		{name: "d lost, the output reads it", lose: forget("d"), counts: "a=1 b=1 c=1 d=2",
			why: map[string]string{"a": "", "d": missing}},
		{name: "no index, a lost", lose: func(te *testEnv, src string) string {
			forget("a")(te, src)
			m, err := te.store.LoadMeta(bg, src)
			if err != nil {
				t.Fatal(err)
			}
			m.Index = nil
			if err := te.store.SaveMeta(bg, m); err != nil {
				t.Fatal(err)
			}
			return src
		}, counts: "a=2 b=2 c=1 d=2", why: map[string]string{"a": missing, "b": "downstream of a", "c": ""}},
		{name: "the run holding its records gone", lose: goneHome, counts: "a=2 b=2 c=2 d=3",
			why: map[string]string{"a": "run SRC, which held its record, is gone, so it runs again", "c": "run SRC, which held its record, is gone, so it runs again"}},
		{name: "--from d, the run holding its records gone", lose: goneHome, opts: ReplayOptions{From: "d"}, counts: "a=2 b=2 c=2 d=3",
			why: map[string]string{"b": "run SRC, which held its record, is gone, so it runs again"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			src := te.start(te.flow(replayFlow), nil)
			wantStatus(t, src, RunCompleted)
			opts := tc.opts
			opts.Source = tc.lose(te, src.ID)
			run, err := te.eng.Replay(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if got := fmt.Sprintf("a=%d b=%d c=%d d=%d", te.count("a"), te.count("b"), te.count("c"), te.count("d")); got != tc.counts {
				t.Errorf("counts %s, want %s", got, tc.counts)
			}
			if _, err := json.Marshal(run); err != nil {
				t.Errorf("the replay's record does not print: %v", err)
			}
			got, err := te.eng.Get(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tc.why {
				s := step(t, got, id)
				switch want = strings.ReplaceAll(want, "SRC", src.ID); {
				case s.Status == StepPending:
					t.Errorf("step %s is pending", id)
				case want == "" && !s.Reused:
					t.Errorf("step %s ran: %s", id, s.Reason)
				case want != "" && (s.Reused || !strings.HasPrefix(s.Reason, want)):
					t.Errorf("step %s: reused %v, reason %q; want it to run: %q", id, s.Reused, s.Reason, want)
				}
			}
			if tc.name == "a lost, nothing reads it" {
				a := step(t, got, "a")
				if a.Status != StepFailed || a.Error == nil || !strings.Contains(*a.Error, "the record of step a in run "+src.ID+" is missing") {
					t.Errorf("the reused step a whose record is gone shows as %s, error %v", a.Status, a.Error)
				}
				s, err := te.eng.Get(t.Context(), src.ID)
				if err != nil {
					t.Fatal(err)
				}
				if a := step(t, s, "a"); a.Status != StepFailed || a.Error == nil || !strings.Contains(*a.Error, "the record of step a of run "+src.ID+" is missing") {
					t.Errorf("the source's step a shows as %s, error %v", a.Status, a.Error)
				}
			}
		})
	}
}

// forget removes the records of steps from run src.
func forget(steps ...string) func(te *testEnv, src string) string {
	return func(te *testEnv, src string) string {
		te.t.Helper()
		for _, s := range steps {
			if err := te.store.ForgetStep(bg, src, s); err != nil {
				te.t.Fatal(err)
			}
		}
		return src
	}
}

// goneHome replays src from d, then removes src's directory: the replay
// it returns reuses a, b and c from a run that is gone.
func goneHome(te *testEnv, src string) string {
	te.t.Helper()
	mid, err := te.eng.Replay(te.t.Context(), ReplayOptions{Source: src, From: "d"})
	if err != nil {
		te.t.Fatal(err)
	}
	if err := os.RemoveAll(te.files.RunDir(src)); err != nil {
		te.t.Fatal(err)
	}
	return mid.ID
}
