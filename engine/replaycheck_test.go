package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
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
	// ids are the runs so far, each replay's source last; a reason's Run
	// that is the source reads "SRC".
	ids := []string{first.ID}
	expect := func(run *Run, wantCalls int, reasons map[string]Reason) {
		t.Helper()
		if n := calls(); n != wantCalls {
			t.Errorf("%d model calls so far, want %d", n, wantCalls)
		}
		for id, want := range reasons {
			wantWhy(t, run, id, ids[len(ids)-1], want)
		}
		ids = append(ids, run.ID)
	}
	unchanged := Reason{Code: runstore.ReasonUnchanged, Run: "SRC"}
	moved := func(was, now string) *ModelChange {
		return &ModelChange{Was: was, Now: now, WasAlias: "fast", NowAlias: "fast"}
	}

	expect(replay(ReplayOptions{}), 3, map[string]Reason{"outline": unchanged, "other": unchanged})

	te.models.reg = registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, "")
	run := replay(ReplayOptions{})
	expect(run, 5, map[string]Reason{
		"outline": {Code: runstore.ReasonModelChanged, Model: moved("openai/a", "openai/b")},
		"draft":   {Code: runstore.ReasonDownstream, Step: "outline"},
		"other":   {Code: runstore.ReasonUnchanged, Run: first.ID},
	})
	if !step(t, run, "other").Reused || step(t, run, "outline").Reused {
		t.Errorf("outline reused %v, other reused %v", step(t, run, "outline").Reused, step(t, run, "other").Reused)
	}
	expect(replay(ReplayOptions{}), 5, map[string]Reason{"outline": unchanged})

	// --from keeps outline although fast moved again, and says so; the
	// next replay still knows outline was answered by openai/b.
	te.models.reg = registry(map[string]string{"fast": "openai/c", "slow": "openai/s"}, "")
	expect(replay(ReplayOptions{From: "other"}), 6, map[string]Reason{
		"outline": {Code: runstore.ReasonNotDownstream, Run: ids[2], From: "other",
			Though: &Reason{Code: runstore.ReasonModelChanged, Model: moved("openai/b", "openai/c")}},
	})
	expect(replay(ReplayOptions{}), 8, map[string]Reason{
		"outline": {Code: runstore.ReasonModelChanged, Model: moved("openai/b", "openai/c")},
	})
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
		want           *ModelChange
	}{
		{name: "nothing changed", model: "fast", now: ab},
		{name: "alias moved", model: "fast", now: registry(map[string]string{"fast": "openai/b"}, ""),
			want: &ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast"}},
		{name: "another alias moved", model: "slow", now: registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, "")},
		{name: "raw model", model: "openai/x", now: registry(nil, "")},
		{name: "default alias switched", now: registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "slow"),
			want: &ModelChange{Was: "openai/a", Now: "openai/s", WasAlias: "fast", NowAlias: "slow"}},
		{name: "alias now gone", model: "fast", now: registry(nil, "")},
		{name: "KITARU_DEFAULT_MODEL changed", wasDef: "openai/x", nowDef: "anthropic/y", now: ab,
			want: &ModelChange{Was: "openai/x", Now: "anthropic/y", WasDefault: true, NowDefault: true}},
		{name: "KITARU_DEFAULT_MODEL set", nowDef: "slow", now: ab,
			want: &ModelChange{Was: "openai/a", Now: "openai/s", WasAlias: "fast", NowAlias: "slow", NowDefault: true}},
		{name: "KITARU_DEFAULT_MODEL unset", wasDef: "openai/x", now: ab,
			want: &ModelChange{Was: "openai/x", Now: "openai/a", NowAlias: "fast", WasDefault: true}},
		{name: "KITARU_DEFAULT_MODEL names the same model", wasDef: "openai/a", now: ab},
		{name: "a step's own model comes first", model: "slow", wasDef: "openai/x", nowDef: "anthropic/y", now: ab},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelChange(tc.model, ab, tc.wasDef, tc.now, tc.nowDef); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("modelChange(%q) = %+v, want %+v", tc.model, got, tc.want)
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
				t.Errorf("step %s: reused %v, want %v (why %+v)", id, s.Reused, w, s.Why)
			}
		}
	}
	reused(replay(first.ID), map[string]bool{"ask": true, "each": true, "named": true})

	t.Setenv(providers.EnvDefaultModel, "anthropic/y")
	run := replay(first.ID)
	reused(run, map[string]bool{"ask": false, "each": false, "named": true})
	why := Reason{Code: runstore.ReasonModelChanged, Model: &ModelChange{Was: "openai/x", Now: "anthropic/y", WasDefault: true, NowDefault: true}}
	for _, id := range []string{"ask", "each"} {
		wantWhy(t, run, id, first.ID, why)
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
	wantWhy(t, run, "ask", first.ID, Reason{Code: runstore.ReasonModelChanged, Model: &ModelChange{Was: "fake/model", Now: "anthropic/y", NowDefault: true}})
}

// replay --from reuses the steps upstream of it whatever changed; their
// reason says what did.
func TestReplayFromNamesChangedUpstreamSteps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    func(te *testEnv) ReplayOptions
		reasons map[string]Reason // step -> its whole reason; others: nothing changed
	}{
		{"edited flow", func(te *testEnv) ReplayOptions {
			return ReplayOptions{From: "c", Flow: te.flow(strings.Replace(replayFlow, "echo A-", "echo AA-", 1))}
		}, map[string]Reason{
			"a": {Code: runstore.ReasonNotDownstream, Run: "SRC", From: "c", Though: &Reason{Code: runstore.ReasonDefinitionChanged}},
			"b": {Code: runstore.ReasonNotDownstream, Run: "SRC", From: "c", Though: &Reason{Code: runstore.ReasonDependencyChanged, Step: "a"}},
		}},
		{"new input", func(*testEnv) ReplayOptions {
			return ReplayOptions{From: "d", Inputs: map[string]any{"other": "z"}}
		}, map[string]Reason{
			"c": {Code: runstore.ReasonNotDownstream, Run: "SRC", From: "d", Though: &Reason{Code: runstore.ReasonInputChanged}},
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
					got := whyOf(s.Why, src.ID)
					switch {
					case noted && !reflect.DeepEqual(got, want):
						t.Errorf("step %s: why %+v, want %+v", s.ID, got, want)
					case !noted && got.Though != nil:
						t.Errorf("step %s: why %+v says something changed", s.ID, got)
					}
				}
			}
		})
	}
}

// A replay whose source lost step records (removed by hand from its
// directory, or the run holding them gone) runs again, saying why, each
// step whose record it reads, with the steps downstream of it (a lost
// step downstream of another is named downstream of it); a lost record it
// does not read stays reused, and the records shown say it is missing
// instead of showing the step as pending.
func TestReplayOfLostRecords(t *testing.T) {
	t.Parallel()
	missing := Reason{Code: runstore.ReasonRecordMissing, Run: "SRC"}
	homeGone := Reason{Code: runstore.ReasonHomeGone, Run: "SRC"}
	downA := Reason{Code: runstore.ReasonDownstream, Step: "a"}
	var reused Reason
	for _, tc := range []struct {
		name   string
		lose   func(te *testEnv, src string) string // returns the run to replay
		opts   ReplayOptions
		counts string            // executions of a b c d, the source's included
		why    map[string]Reason // step: its reason (none: reused)
	}{
		{name: "--from d, b lost", lose: forget("b"), opts: ReplayOptions{From: "d"}, counts: "a=1 b=2 c=1 d=2",
			why: map[string]Reason{"a": reused, "b": missing, "c": reused, "d": {Code: runstore.ReasonFrom, From: "d"}}},
		{name: "--from d, a and b lost", lose: forget("a", "b"), opts: ReplayOptions{From: "d"}, counts: "a=2 b=2 c=1 d=2",
			why: map[string]Reason{"a": missing, "b": downA, "c": reused}},
		{name: "a lost, nothing reads it", lose: forget("a"), counts: "a=1 b=1 c=1 d=1",
			why: map[string]Reason{"a": reused, "b": reused, "c": reused, "d": reused}},
		{name: "d lost, the output reads it", lose: forget("d"), counts: "a=1 b=1 c=1 d=2",
			why: map[string]Reason{"a": reused, "d": missing}},
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
		}, counts: "a=2 b=2 c=1 d=2", why: map[string]Reason{"a": missing, "b": downA, "c": reused}},
		{name: "the run holding its records gone", lose: goneHome, counts: "a=2 b=2 c=2 d=3",
			why: map[string]Reason{"a": homeGone, "c": homeGone}},
		{name: "--from d, the run holding its records gone", lose: goneHome, opts: ReplayOptions{From: "d"}, counts: "a=2 b=2 c=2 d=3",
			why: map[string]Reason{"a": homeGone, "b": downA, "c": homeGone}},
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
				switch why := whyOf(s.Why, src.ID); {
				case s.Status == StepPending:
					t.Errorf("step %s is pending", id)
				case want == reused && !s.Reused:
					t.Errorf("step %s ran: %+v", id, why)
				case want != reused && (s.Reused || !reflect.DeepEqual(why, want)):
					t.Errorf("step %s: reused %v, why %+v; want it to run: %+v", id, s.Reused, why, want)
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
