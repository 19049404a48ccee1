package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

const replayFlow = `
name: rp
inputs:
  topic: {type: string, default: x}
  other: {type: string, default: y}
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A-${{ inputs.topic }}
  b:
    kind: checkpoint
    run: echo x >> COUNTER/b; echo B-${{ steps.a.output }}
  c:
    kind: checkpoint
    run: echo x >> COUNTER/c; echo C-${{ inputs.other }}
  d:
    kind: checkpoint
    run: echo x >> COUNTER/d; echo D-${{ steps.b.output }}-${{ steps.c.output }}
output: ${{ steps.d.output }}
`

func TestReplayModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   func(te *testEnv) ReplayOptions
		runs   map[string]int // extra runs per step caused by the replay
		output string
		reason map[string]Reason // step -> its reason (Run "SRC": the source)
	}{
		{
			name:   "from",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "b"} },
			runs:   map[string]int{"b": 1, "d": 1},
			output: "D-B-A-x-C-y",
			reason: map[string]Reason{
				"a": {Code: runstore.ReasonNotDownstream, Run: "SRC", From: "b"},
				"b": {Code: runstore.ReasonFrom, From: "b"},
				"d": {Code: runstore.ReasonDownstreamOfFrom, From: "b"},
			},
		},
		{
			name:   "from with new input",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "d", Inputs: map[string]any{"other": "z"}} },
			runs:   map[string]int{"d": 1},
			output: "D-B-A-x-C-y", // c is reused, so its recorded output stands
		},
		{
			name:   "override",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Overrides: map[string]any{"a": "Z"}} },
			runs:   map[string]int{"b": 1, "d": 1},
			output: "D-B-Z-C-y",
			reason: map[string]Reason{
				"a": {Code: runstore.ReasonOverridden},
				"b": {Code: runstore.ReasonDownstreamOverride, Step: "a"},
				"c": {Code: runstore.ReasonUnchanged, Run: "SRC"},
			},
		},
		{
			name:   "from with override",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "c", Overrides: map[string]any{"a": "Q"}} },
			runs:   map[string]int{"b": 1, "c": 1, "d": 1},
			output: "D-B-Q-C-y",
		},
		{
			name:   "new input",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Inputs: map[string]any{"other": "z"}} },
			runs:   map[string]int{"c": 1, "d": 1},
			output: "D-B-A-x-C-z",
			reason: map[string]Reason{
				"c": {Code: runstore.ReasonFingerprintChanged},
				"d": {Code: runstore.ReasonDownstream, Step: "c"},
			},
		},
		{
			name:   "same everything",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{} },
			runs:   map[string]int{},
			output: "D-B-A-x-C-y",
		},
		{
			name: "edited flow",
			opts: func(te *testEnv) ReplayOptions {
				return ReplayOptions{Flow: te.flow(strings.Replace(replayFlow, "echo B-", "echo BB-", 1))}
			},
			runs:   map[string]int{"b": 1, "d": 1},
			output: "D-BB-A-x-C-y",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newEnv(t)
			src := te.start(te.flow(replayFlow), nil)
			wantStatus(t, src, RunCompleted)
			opts := tt.opts(te)
			opts.Source = src.ID
			run, err := te.eng.Replay(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if run.ReplayOf == nil || *run.ReplayOf != src.ID || run.ID == src.ID {
				t.Fatalf("replay_of %v", run.ReplayOf)
			}
			if run.Output != tt.output {
				t.Errorf("output %#v, want %q", run.Output, tt.output)
			}
			for _, id := range []string{"a", "b", "c", "d"} {
				if got, want := te.count(id), 1+tt.runs[id]; got != want {
					t.Errorf("step %s ran %d times, want %d", id, got, want)
				}
				s := step(t, run, id)
				reused := tt.runs[id] == 0 && (s.Why == nil || s.Why.Code != runstore.ReasonOverridden)
				if s.Reused != reused {
					t.Errorf("step %s reused=%v, want %v (%+v)", id, s.Reused, reused, s.Why)
				}
			}
			got, err := te.eng.Get(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tt.reason {
				wantWhy(t, got, id, src.ID, want)
			}
			for i, s := range got.Steps {
				if out, err := OutputValue(run.Steps[i].Output); err != nil || s.Output != out || s.Reused != run.Steps[i].Reused {
					t.Errorf("get and replay differ on %s: %+v vs %+v", s.ID, s, run.Steps[i])
				}
			}
		})
	}
}

func TestReplayOfReplayAndSelectors(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	src := te.start(te.flow(replayFlow), nil)
	r1, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, From: "d"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := te.eng.Replay(t.Context(), ReplayOptions{Source: r1.ID, From: "c"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r2, RunCompleted)
	// a and b live in the first run's records; the second replay points there.
	a := step(t, r2, "a")
	if out, err := OutputValue(a.Output); err != nil || a.ReusedFrom != src.ID || out != "A-x" {
		t.Errorf("a in the replay of a replay: %+v (%v, %v)", a, out, err)
	}
	if te.count("a") != 1 || te.count("c") != 2 || te.count("d") != 3 {
		t.Errorf("counts a=%d c=%d d=%d", te.count("a"), te.count("c"), te.count("d"))
	}
	// A deferred output prints as the recorded value.
	if data, err := json.Marshal(r2); err != nil || !strings.Contains(string(data), `"output":"A-x"`) {
		t.Errorf("the replay's JSON record: %v %s", err, data)
	}
	for _, o := range []ReplayOptions{{From: "nope"}, {Overrides: map[string]any{"zz": 1}}, {Overrides: map[string]any{"llm.a": 1}}} {
		o.Source = src.ID
		_, err := te.eng.Replay(t.Context(), o)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "a, b, c, d") {
			t.Errorf("bad selector %+v: %v", o, err)
		}
	}
	// KIND.ID selects too.
	r3, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, From: "checkpoint.d", Overrides: map[string]any{"checkpoint.c": "CC"}})
	if err != nil || r3.Output != "D-B-A-x-CC" {
		t.Errorf("kind.id selectors: %v, %v", err, r3)
	}
	if _, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Inputs: map[string]any{"nope": "1"}}); err == nil {
		t.Error("an unknown input was accepted")
	}
}

// A foreach step that failed part-way: a replay redoes only its items that
// did not finish.
func TestReplayForeachRedoesOnlyUnfinishedItems(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: fan
inputs:
  xs: {type: list, default: [a, b, c]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.xs
    run: echo x >> COUNTER/${{ item }}; test ${{ item }} != b -o -f COUNTER/fixed && echo ${{ item }}${{ item }}
`)
	src := te.start(f, nil)
	wantStatus(t, src, RunFailed)
	os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600)
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	out, _ := OutputValue(step(t, run, "each").Output)
	if fmt.Sprint(out) != "[aa bb cc]" {
		t.Errorf("output %v", out)
	}
	for x, want := range map[string]int{"a": 1, "b": 2, "c": 1} {
		if got := te.count(x); got != want {
			t.Errorf("item %s ran %d times, want %d", x, got, want)
		}
	}
}

func TestStepSelectors(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	g := newGraph(te.flow(`
name: sel
steps:
  write_draft: {kind: checkpoint, value: a}
  write_title: {kind: checkpoint, value: b}
  publish: {kind: checkpoint, value: c}
`))
	tests := []struct{ sel, want, errHas string }{
		{sel: "publish", want: "publish"},
		{sel: "checkpoint.publish", want: "publish"},
		{sel: "pub", want: "publish"},
		{sel: "write_d", want: "write_draft"},
		{sel: "write", errHas: "ambiguous: it could be write_draft, write_title"},
		{sel: "llm.publish", errHas: "its steps are: write_draft, write_title, publish"},
		{sel: "zz", errHas: "no such step"},
	}
	for _, tt := range tests {
		got, err := g.selectStep(SelectFrom, tt.sel)
		if tt.errHas == "" && (err != nil || got != tt.want) {
			t.Errorf("%q: %q, %v; want %q", tt.sel, got, err, tt.want)
		}
		if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
			t.Errorf("%q: error %v; want one containing %q", tt.sel, err, tt.errHas)
		}
	}
}
