package engine

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// editFlow fails at b (its command outlives its timeout) the first time;
// e stands alone.
const editFlow = `
name: edit
inputs:
  tone: {type: string, default: plain}
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A
  b:
    kind: checkpoint
    timeout: 100ms
    run: echo x >> COUNTER/b; sleep 0.5; echo B-${{ steps.a.output }}
  c:
    kind: checkpoint
    run: echo x >> COUNTER/c; echo C-${{ steps.b.output }}
  e:
    kind: checkpoint
    run: echo x >> COUNTER/e; echo E-${{ inputs.tone }}
output: ${{ steps.c.output }}
`

// TestRetryEditedFlow: retry --flow continues a failed run in place against
// the edited flow: what the edit changed or added runs, with its
// descendants, failed and never-run steps run, and the rest is kept.
func TestRetryEditedFlow(t *testing.T) {
	t.Parallel()
	edited := Reason{Code: runstore.ReasonDefinitionChanged}
	tests := []struct {
		name   string
		edit   func(string) string
		runs   map[string]int // how often each step has run in all
		why    map[string]Reason
		output string
		steps  []string // the run's steps after the edit
	}{
		{
			name:   "raised timeout: the failed step passes, the completed ones are kept",
			edit:   func(s string) string { return strings.Replace(s, "timeout: 100ms", "timeout: 5s", 1) },
			runs:   map[string]int{"a": 1, "b": 2, "c": 1, "e": 1},
			why:    map[string]Reason{"b": edited, "c": {Code: runstore.ReasonDownstream, Step: "b"}},
			output: "C-B-A",
		},
		{
			name: "an edited completed step runs again with its descendants",
			edit: func(s string) string {
				s = strings.Replace(s, "timeout: 100ms", "timeout: 5s", 1)
				return strings.Replace(s, "echo A\n", "echo A2\n", 1)
			},
			runs: map[string]int{"a": 2, "b": 2, "c": 1, "e": 1},
			// b's own timeout changed too: its own edit is what it names.
			why:    map[string]Reason{"a": edited, "b": edited, "c": {Code: runstore.ReasonDownstream, Step: "a"}},
			output: "C-B-A2",
		},
		{
			name: "an added step runs, and what reads it",
			edit: func(s string) string {
				s = strings.Replace(s, "timeout: 100ms\n    run: echo x >> COUNTER/b; sleep 0.5;", "run: echo x >> COUNTER/b;", 1)
				return strings.Replace(s, "  e:\n", "  n:\n    kind: checkpoint\n    run: echo x >> COUNTER/n; echo N\n  e:\n", 1)
			},
			runs:   map[string]int{"a": 1, "b": 2, "c": 1, "e": 1, "n": 1},
			why:    map[string]Reason{"b": edited, "c": {Code: runstore.ReasonDownstream, Step: "b"}, "n": {Code: runstore.ReasonAddedStep}},
			output: "C-B-A",
			steps:  []string{"a", "b", "c", "n", "e"},
		},
		{
			name: "a removed completed step leaves the run",
			edit: func(s string) string {
				s = strings.Replace(s, "timeout: 100ms", "timeout: 5s", 1)
				return strings.Replace(s, "  e:\n    kind: checkpoint\n    run: echo x >> COUNTER/e; echo E-${{ inputs.tone }}\n", "", 1)
			},
			runs:   map[string]int{"a": 1, "b": 2, "c": 1, "e": 1},
			why:    map[string]Reason{"b": edited, "c": {Code: runstore.ReasonDownstream, Step: "b"}},
			output: "C-B-A",
			steps:  []string{"a", "b", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			first := te.start(te.flow(editFlow), nil)
			wantStatus(t, first, RunFailed)
			f := te.flow(tt.edit(editFlow))
			run, err := te.eng.Retry(t.Context(), first.ID, 0, WithFlow(f))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if run.ID != first.ID || run.Output != tt.output {
				t.Errorf("run %s output %#v, want run %s output %q", run.ID, run.Output, first.ID, tt.output)
			}
			wantCounts(t, te, tt.runs)
			want := tt.steps
			if want == nil {
				want = []string{"a", "b", "c", "e"}
			}
			var got []string
			for _, s := range run.Steps {
				got = append(got, s.ID)
				if w, ok := tt.why[s.ID]; ok {
					wantWhy(t, run, s.ID, "-", w)
				} else if s.Why != nil {
					t.Errorf("step %s: why %+v, want none", s.ID, *s.Why)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("steps %v, want %v", got, want)
			}
			// The edited flow is the run's now: a later look (and a replay)
			// reads it, and the journal says when it came in.
			src, err := te.store.FlowSource(t.Context(), run.ID)
			if err != nil || string(src) != string(f.Source) {
				t.Errorf("flow snapshot after the retry: %v, %q", err, src)
			}
			evs, _, err := journal(te.store, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			var changes []*runstore.FlowChange
			for _, ev := range evs {
				if ev.Type == runstore.EventFlowChanged {
					changes = append(changes, ev.Flow)
				}
			}
			if len(changes) != 1 || len(changes[0].Hash) != 64 {
				t.Errorf("journal's flow changes %+v, want one with the new flow's hash", changes)
			}
			again, err := te.eng.Get(t.Context(), run.ID)
			if err != nil || !reflect.DeepEqual(again.Steps[len(again.Steps)-1].ID, want[len(want)-1]) {
				t.Errorf("get after the retry: %v", err)
			}
		})
	}
}

// TestRetryEditedFlowRefused: an edited flow a run cannot continue with is
// refused, and the run is left as it was.
func TestRetryEditedFlowRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{
			name: "a new input without a default",
			edit: func(s string) string {
				return strings.Replace(s, "  tone: {type: string, default: plain}\n", "  tone: {type: string, default: plain}\n  audience: {type: string}\n", 1)
			},
			want: `keeps its own inputs, and the edited flow test.yaml needs more`,
		},
		{
			name: "another flow",
			edit: func(s string) string { return strings.Replace(s, "name: edit", "name: other", 1) },
			want: `test.yaml is flow "other", but run`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			first := te.start(te.flow(editFlow), nil)
			_, err := te.eng.Retry(t.Context(), first.ID, 0, WithFlow(te.flow(tt.edit(editFlow))))
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want a usage error saying %q", err, tt.want)
			}
			src, _ := te.store.FlowSource(t.Context(), first.ID)
			if got, _ := te.eng.Get(t.Context(), first.ID); got.Status != RunFailed || !strings.Contains(string(src), "timeout: 100ms") {
				t.Errorf("the refused retry changed the run: %s, %q", got.Status, src)
			}
			if te.count("b") != 1 {
				t.Errorf("step b ran %d times, want 1", te.count("b"))
			}
		})
	}
}

// TestRetryEditedForeach: items of an edited foreach step run again;
// those of a step the edit left alone are kept.
func TestRetryEditedForeach(t *testing.T) {
	t.Parallel()
	const src = `
name: items
steps:
  each:
    kind: checkpoint
    foreach: '${{ ["x", "y"] }}'
    run: echo x >> COUNTER/${{ item }}; echo ${{ item }}-1
  bad:
    kind: checkpoint
    run: echo x >> COUNTER/bad; echo ${{ steps.each.output }}; exit 1
output: ${{ steps.bad.output }}
`
	for _, tt := range []struct {
		name  string
		edit  func(string) string
		items int
		out   string
	}{
		{"foreach step unchanged", func(s string) string { return strings.Replace(s, "; exit 1", "", 1) }, 1, "[x-1 y-1]"},
		{"foreach step edited", func(s string) string {
			return strings.Replace(strings.Replace(s, "; exit 1", "", 1), "-1\n", "-2\n", 1)
		}, 2, "[x-2 y-2]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			first := te.start(te.flow(src), nil)
			wantStatus(t, first, RunFailed)
			run, err := te.eng.Retry(t.Context(), first.ID, 0, WithFlow(te.flow(tt.edit(src))))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if te.count("x") != tt.items || te.count("y") != tt.items || te.count("bad") != 2 {
				t.Errorf("x ran %d, y %d, bad %d times; want %d, %d, 2", te.count("x"), te.count("y"), te.count("bad"), tt.items, tt.items)
			}
			if got, ok := run.Output.(string); !ok || !strings.Contains(got, strings.Trim(tt.out, "[]")[:3]) {
				t.Errorf("output %#v, want one of %s", run.Output, tt.out)
			}
		})
	}
}

// wantCounts fails t unless each step appended to its counter file as
// often as runs says.
func wantCounts(t *testing.T, te *testEnv, runs map[string]int) {
	t.Helper()
	for s, want := range runs {
		if got := te.count(s); got != want {
			t.Errorf("step %s ran %d times, want %d", s, got, want)
		}
	}
}

// TestRetryEditedReplay: a failed replay retried against an edited flow
// keeps the steps it reused from its source unless the edit changed them;
// those it runs itself.
func TestRetryEditedReplay(t *testing.T) {
	t.Parallel()
	fix := func(s string) string { return strings.Replace(s, "timeout: 100ms", "timeout: 5s", 1) }
	for _, tt := range []struct {
		name string
		edit func(string) string
		runs map[string]int
	}{
		{"reused step unchanged", fix, map[string]int{"a": 1, "b": 3, "e": 1}},
		{"reused step edited", func(s string) string { return strings.Replace(fix(s), "echo A\n", "echo A2\n", 1) }, map[string]int{"a": 2, "b": 3, "e": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			first := te.start(te.flow(editFlow), nil)
			rep, err := te.eng.Replay(t.Context(), ReplayOptions{Source: first.ID})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, rep, RunFailed)
			if !step(t, rep, "a").Reused {
				t.Fatal("the replay did not reuse a")
			}
			run, err := te.eng.Retry(t.Context(), rep.ID, 0, WithFlow(te.flow(tt.edit(editFlow))))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			wantCounts(t, te, tt.runs)
			if a := step(t, run, "a"); a.Reused != (tt.runs["a"] == 1) {
				t.Errorf("a reused %v after the retry", a.Reused)
			}
		})
	}
}

// TestRetryEditedWaitingRun: a waiting run may be retried against its
// edited flow: a wait step the edit leaves alone keeps waiting (and keeps
// an answer once given), and the edit applies downstream of it.
func TestRetryEditedWaitingRun(t *testing.T) {
	t.Parallel()
	const src = `
name: gate
steps:
  draft:
    kind: checkpoint
    run: echo x >> COUNTER/draft; echo D
  ok:
    kind: wait
    question: ship ${{ steps.draft.output }}?
    schema: {type: boolean}
  ship:
    kind: checkpoint
    run: echo x >> COUNTER/ship; echo shipped-1-${{ steps.ok.output }}
output: ${{ steps.ship.output }}
`
	te := newEnv(t)
	first := te.start(te.flow(src), nil)
	wantStatus(t, first, RunWaiting)
	f := te.flow(strings.Replace(src, "shipped-1", "shipped-2", 1))
	run, err := te.eng.Retry(t.Context(), first.ID, 0, WithFlow(f))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if _, err := te.eng.Answer(t.Context(), first.ID, "ok", []byte("true")); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), first.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "shipped-2-true" {
		t.Errorf("output %#v, want the edited flow's", run.Output)
	}
	wantCounts(t, te, map[string]int{"draft": 1, "ship": 1})
}

// TestRetryEditedAfterAFailure: what a failure decided (a step skipped for
// its failed dependency) is decided again, as in any retry, though the
// edit is elsewhere.
func TestRetryEditedAfterAFailure(t *testing.T) {
	t.Parallel()
	const src = `
name: fixed
steps:
  b:
    kind: checkpoint
    run: echo x >> COUNTER/b; test -f COUNTER/fixed || exit 3; echo B
  c:
    kind: checkpoint
    run: echo x >> COUNTER/c; echo C-${{ steps.b.output }}
  e:
    kind: checkpoint
    run: echo x >> COUNTER/e; echo E
output: ${{ steps.c.output }}
`
	te := newEnv(t)
	first := te.start(te.flow(src), nil)
	wantStatus(t, first, RunFailed)
	if c := step(t, first, "c"); c.Status != StepSkipped {
		t.Fatalf("c is %s after b failed, want skipped", c.Status)
	}
	if err := os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Retry(t.Context(), first.ID, 0, WithFlow(te.flow(strings.Replace(src, "echo E\n", "echo E2\n", 1))))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "C-B" {
		t.Errorf("output %#v, want C-B", run.Output)
	}
	wantCounts(t, te, map[string]int{"b": 2, "c": 1, "e": 2})
	wantWhy(t, run, "e", "-", Reason{Code: runstore.ReasonDefinitionChanged})
}
