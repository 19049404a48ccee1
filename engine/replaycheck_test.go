package engine

import (
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
		run, err := te.eng.Replay(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, run, RunCompleted)
		got, err := te.eng.Get(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
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

func TestModelChange(t *testing.T) {
	t.Parallel()
	ab := registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "fast")
	for _, tc := range []struct {
		name, model string
		now         providers.Registry
		want        *ModelChange
	}{
		{"nothing changed", "fast", ab, nil},
		{"alias moved", "fast", registry(map[string]string{"fast": "openai/b"}, ""),
			&ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast"}},
		{"another alias moved", "slow", registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, ""), nil},
		{"raw model", "openai/x", registry(nil, ""), nil},
		{"default alias switched", "", registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "slow"),
			&ModelChange{Was: "openai/a", Now: "openai/s", WasAlias: "fast", NowAlias: "slow"}},
		{"alias now gone", "fast", registry(nil, ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelChange(tc.model, ab, tc.now); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("modelChange(%q) = %+v, want %+v", tc.model, got, tc.want)
			}
		})
	}
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
