package engine

import (
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

func TestModelChange(t *testing.T) {
	t.Parallel()
	ab := registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "fast")
	for _, tc := range []struct {
		name, model string
		now         providers.Registry
		want        string
	}{
		{"nothing changed", "fast", ab, ""},
		{"alias moved", "fast", registry(map[string]string{"fast": "openai/b"}, ""), "alias fast now resolves to openai/b, was openai/a"},
		{"another alias moved", "slow", registry(map[string]string{"fast": "openai/b", "slow": "openai/s"}, ""), ""},
		{"raw model", "openai/x", registry(nil, ""), ""},
		{"default alias switched", "", registry(map[string]string{"fast": "openai/a", "slow": "openai/s"}, "slow"),
			"now openai/s (alias slow), was openai/a (alias fast)"},
		{"alias now gone", "fast", registry(nil, ""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelChange(tc.model, ab, tc.now); got != tc.want {
				t.Errorf("modelChange(%q) = %q, want %q", tc.model, got, tc.want)
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
