package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

func TestPickItems(t *testing.T) {
	t.Parallel()
	done := func(i int, key string) *ItemResult {
		return &ItemResult{Index: i, Status: StepCompleted, Key: key, Output: fmt.Sprint(key, i)}
	}
	failed := func(i int, key string) *ItemResult { return &ItemResult{Index: i, Status: StepFailed, Key: key} }
	src := func(rs ...*ItemResult) map[int]*ItemResult {
		m := map[int]*ItemResult{}
		for _, r := range rs {
			m[r.Index] = r
		}
		return m
	}
	abc := src(done(0, "a"), done(1, "b"), done(2, "c"))
	const no, fail, redo = -1, -2, -3 // picks that run, by why
	tests := []struct {
		name    string
		keys    []string
		src     map[int]*ItemResult
		byIndex bool
		redo    int
		want    []int // the source index each item reuses, or why it runs
	}{
		{name: "unchanged", keys: []string{"a", "b", "c"}, src: abc, redo: -1, want: []int{0, 1, 2}},
		{name: "one added", keys: []string{"a", "b", "c", "d"}, src: abc, redo: -1, want: []int{0, 1, 2, no}},
		{name: "reordered", keys: []string{"c", "a", "b"}, src: abc, redo: -1, want: []int{2, 0, 1}},
		{name: "one removed", keys: []string{"a", "c"}, src: abc, redo: -1, want: []int{0, 2}},
		{name: "none left", keys: []string{"x", "y"}, src: abc, redo: -1, want: []int{no, no}},
		{name: "duplicates keep their own records", keys: []string{"a", "a"}, src: src(done(0, "a"), done(1, "a")), redo: -1, want: []int{0, 1}},
		{name: "duplicates swap nothing when shifted", keys: []string{"b", "a", "a"}, src: src(done(0, "a"), done(1, "a")), redo: -1, want: []int{no, 1, 0}},
		{name: "one record serves one item", keys: []string{"a", "a", "a"}, src: src(done(0, "a"), done(1, "a")), redo: -1, want: []int{0, 1, no}},
		{name: "a failed item runs", keys: []string{"a", "b"}, src: src(done(0, "a"), failed(1, "b")), redo: -1, want: []int{0, fail}},
		{name: "a failed item elsewhere", keys: []string{"b", "a"}, src: src(done(0, "a"), failed(1, "b")), redo: -1, want: []int{fail, 0}},
		{name: "redo", keys: []string{"a", "b", "c"}, src: abc, redo: 1, want: []int{0, redo, 2}},
		{name: "redo a duplicate", keys: []string{"a", "a"}, src: src(done(0, "a"), done(1, "a")), redo: 0, want: []int{redo, 1}},
		{name: "no key made", keys: []string{"", "b"}, src: abc, redo: -1, want: []int{no, 1}},
		{name: "keyless records by position", keys: []string{"a", "b", "c"}, src: src(done(0, ""), failed(1, ""), done(2, "")), byIndex: true, redo: -1, want: []int{0, fail, 2}},
		{name: "keyless records not trusted", keys: []string{"a", "b"}, src: src(done(0, ""), done(1, "")), redo: -1, want: []int{no, no}},
		{name: "keyless records never move", keys: []string{"b", "a"}, src: src(done(0, "")), byIndex: true, redo: -1, want: []int{0, no}},
		{name: "a key decides over position", keys: []string{"a", "z"}, src: abc, byIndex: true, redo: -1, want: []int{0, no}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			picks := pickItems(tt.keys, tt.src, tt.byIndex, tt.redo)
			got := make([]int, len(picks))
			for i, p := range picks {
				switch {
				case p.src != nil && p.why == itemReused:
					got[i] = p.src.Index
				case p.src != nil:
					t.Fatalf("item %d reuses a record but says %d", i, p.why)
				case p.why == itemNoMatch:
					got[i] = no
				case p.why == itemUnfinished:
					got[i] = fail
				case p.why == itemRedo:
					got[i] = redo
				default:
					got[i] = 99
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("picks %v, want %v", got, tt.want)
			}
		})
	}
}

func TestItemSelector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sel, base string
		n         int
		bad       bool
	}{
		{sel: "each", base: "each", n: -1},
		{sel: "each[0]", base: "each", n: 0},
		{sel: "checkpoint.each[12]", base: "checkpoint.each", n: 12},
		{sel: "each[-1]", bad: true},
		{sel: "each[01]", bad: true},
		{sel: "each[x]", bad: true},
		{sel: "each[1", bad: true},
		{sel: "each[1]x", bad: true},
		{sel: "[1]", bad: true},
		{sel: "each[ 1]", bad: true},
	}
	for _, tt := range tests {
		base, n, err := itemSelector(tt.sel)
		var ue *UsageError
		var ic *ItemChoiceError
		if tt.bad {
			if !errors.As(err, &ue) || !errors.As(err, &ic) || ic.Problem != ItemBadSelector || ic.Sel != tt.sel {
				t.Errorf("%q: %v, want a usage error saying it is no STEP[N]", tt.sel, err)
			}
			continue
		}
		if err != nil || base != tt.base || n != tt.n {
			t.Errorf("%q: %q %d %v, want %q %d", tt.sel, base, n, err, tt.base, tt.n)
		}
	}
}

const itemsFlow = `
name: fan
inputs:
  xs: {type: list, default: [a, b, c]}
  tone: {type: string, default: plain}
steps:
  list: {kind: checkpoint, value: "${{ inputs.xs }}"}
  each:
    kind: checkpoint
    foreach: steps.list.output
    run: echo x >> COUNTER/${{ item }}; echo ${{ item }}-${{ inputs.tone }}
  join:
    kind: checkpoint
    run: echo x >> COUNTER/join; echo "${{ steps.each.output }}"
output: ${{ steps.each.output }}
`

// TestReplayReusesItems: a replay re-runs only the items whose value or
// whose step's definition or other inputs changed.
func TestReplayReusesItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   func(te *testEnv) ReplayOptions
		runs   map[string]int // extra executions per item value (and join)
		output []any
		reused []bool                      // per item of each; nil: the step itself is reused
		why    *Reason                     // each's reason, when the case is about it
		items  map[runstore.ReasonCode]int // how many items of each give each reason
	}{
		{
			name: "one item added",
			opts: func(*testEnv) ReplayOptions {
				return ReplayOptions{Inputs: map[string]any{"xs": []any{"a", "b", "c", "d"}}}
			},
			runs:   map[string]int{"d": 1, "join": 1},
			output: []any{"a-plain", "b-plain", "c-plain", "d-plain"},
			reused: []bool{true, true, true, false},
			items:  map[runstore.ReasonCode]int{runstore.ReasonMatched: 3, runstore.ReasonNoMatch: 1},
		},
		{
			name:   "reordered",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Inputs: map[string]any{"xs": []any{"c", "a", "b"}}} },
			runs:   map[string]int{"join": 1},
			output: []any{"c-plain", "a-plain", "b-plain"},
			reused: []bool{true, true, true},
			items:  map[runstore.ReasonCode]int{runstore.ReasonMatched: 3},
		},
		{
			name:   "one removed",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Inputs: map[string]any{"xs": []any{"a", "c"}}} },
			runs:   map[string]int{"join": 1},
			output: []any{"a-plain", "c-plain"},
			reused: []bool{true, true},
		},
		{
			name:   "a duplicate added",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Inputs: map[string]any{"xs": []any{"a", "a", "b"}}} },
			runs:   map[string]int{"a": 1, "join": 1},
			output: []any{"a-plain", "a-plain", "b-plain"},
			reused: []bool{true, false, true},
		},
		{
			name:   "an input the items read",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{Inputs: map[string]any{"tone": "loud"}} },
			runs:   map[string]int{"a": 1, "b": 1, "c": 1, "join": 1},
			output: []any{"a-loud", "b-loud", "c-loud"},
			reused: []bool{false, false, false},
			items:  map[runstore.ReasonCode]int{runstore.ReasonNoMatch: 3},
		},
		{
			name: "edited command",
			opts: func(te *testEnv) ReplayOptions {
				return ReplayOptions{Flow: te.flow(strings.Replace(itemsFlow, "echo ${{ item }}-", "echo ${{ item }}+", 1))}
			},
			runs:   map[string]int{"a": 1, "b": 1, "c": 1, "join": 1},
			output: []any{"a+plain", "b+plain", "c+plain"},
			reused: []bool{false, false, false},
		},
		{
			name: "edited foreach, same items",
			opts: func(te *testEnv) ReplayOptions {
				return ReplayOptions{Flow: te.flow(strings.Replace(itemsFlow, "foreach: steps.list.output", `foreach: '${{ ["b", "a", "c", "e"] }}'`, 1))}
			},
			runs:   map[string]int{"e": 1, "join": 1},
			output: []any{"b-plain", "a-plain", "c-plain", "e-plain"},
			reused: []bool{true, true, true, false},
		},
		{
			name:   "from upstream",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "list"} },
			runs:   map[string]int{"join": 1},
			output: []any{"a-plain", "b-plain", "c-plain"},
			reused: []bool{true, true, true},
			why:    &Reason{Code: runstore.ReasonDownstreamOfFrom, From: "list"},
			items:  map[runstore.ReasonCode]int{runstore.ReasonMatched: 3},
		},
		{
			name:   "from the step",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "each"} },
			runs:   map[string]int{"a": 1, "b": 1, "c": 1, "join": 1},
			output: []any{"a-plain", "b-plain", "c-plain"},
			reused: []bool{false, false, false},
		},
		{
			name:   "from one item",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "each[1]"} },
			runs:   map[string]int{"b": 1, "join": 1},
			output: []any{"a-plain", "b-plain", "c-plain"},
			reused: []bool{true, false, true},
			why:    &Reason{Code: runstore.ReasonFrom, From: "each[1]"},
			items:  map[runstore.ReasonCode]int{runstore.ReasonMatched: 2, runstore.ReasonFrom: 1},
		},
		{
			name:   "from one item, by kind",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{From: "checkpoint.each[2]"} },
			runs:   map[string]int{"c": 1, "join": 1},
			output: []any{"a-plain", "b-plain", "c-plain"},
			reused: []bool{true, true, false},
		},
		{
			name:   "nothing changed",
			opts:   func(*testEnv) ReplayOptions { return ReplayOptions{} },
			output: []any{"a-plain", "b-plain", "c-plain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			src := te.start(te.flow(itemsFlow), nil)
			wantStatus(t, src, RunCompleted)
			opts := tt.opts(te)
			opts.Source = src.ID
			run, err := te.eng.Replay(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			for _, x := range []string{"a", "b", "c", "d", "e", "join"} {
				want := tt.runs[x]
				if x != "d" && x != "e" {
					want++ // the source's run
				}
				if got := te.count(x); got != want {
					t.Errorf("%s ran %d times, want %d", x, got, want)
				}
			}
			got, err := te.eng.Get(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Output, tt.output) {
				t.Errorf("output %#v, want %#v", got.Output, tt.output)
			}
			each := step(t, got, "each")
			if tt.reused == nil {
				if !each.Reused {
					t.Errorf("each ran (%+v); want it reused whole", each.Why)
				}
				return
			}
			if each.Reused {
				t.Fatalf("each was reused whole (%+v)", each.Why)
			}
			var reused []bool
			for i, it := range each.Items {
				reused = append(reused, it.Reused)
				if it.Key == "" {
					t.Errorf("item %d has no key", i)
				}
				if it.Reused != (it.ReusedFrom == src.ID) || it.Reused != (it.Why != nil && it.Why.Code == runstore.ReasonMatched && it.Why.Run == src.ID) {
					t.Errorf("item %d: reused %v from %q, why %+v", i, it.Reused, it.ReusedFrom, it.Why)
				}
			}
			if !reflect.DeepEqual(reused, tt.reused) {
				t.Errorf("items reused %v, want %v", reused, tt.reused)
			}
			if tt.why != nil {
				wantWhy(t, got, "each", src.ID, *tt.why)
			}
			if got := itemCodes(each); tt.items != nil && !reflect.DeepEqual(got, tt.items) {
				t.Errorf("each's items give reasons %v, want %v", got, tt.items)
			}
			// What was reused can be reused again: a replay of the replay
			// runs nothing.
			again, err := te.eng.Replay(t.Context(), ReplayOptions{Source: run.ID, Inputs: opts.Inputs, Flow: opts.Flow})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, again, RunCompleted)
			if out, _ := OutputValue(again.Output); !reflect.DeepEqual(out, tt.output) {
				t.Errorf("the replay of the replay: output %#v", out)
			}
		})
	}
}

// An item whose position the step reads is reused only at its position.
func TestReplayItemsThatReadIndex(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: idx
inputs:
  xs: {type: list, default: [a, b, c]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.xs
    run: echo x >> COUNTER/${{ item }}; echo ${{ index }}${{ item }}
`)
	src := te.start(f, nil)
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Inputs: map[string]any{"xs": []any{"c", "b", "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	got := step(t, run, "each")
	if out, _ := OutputValue(got.Output); fmt.Sprint(out) != "[0c 1b 2a]" {
		t.Errorf("output %v", out)
	}
	if te.count("a") != 2 || te.count("b") != 1 || te.count("c") != 2 {
		t.Errorf("counts a=%d b=%d c=%d, want 2 1 2", te.count("a"), te.count("b"), te.count("c"))
	}
}

// The model an llm step's alias resolves to is part of its items' keys,
// and only the items that ran count toward the step's usage and cost.
func TestReplayLLMItems(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/a"}}, Default: "fast"}
	f := te.flow(`
name: llmfan
inputs:
  topics: {type: list, default: [x, y, z]}
steps:
  each: {kind: llm, model: fast, foreach: inputs.topics, prompt: 'about ${{ item }}'}
`)
	src := te.start(f, nil)
	wantStatus(t, src, RunCompleted)
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Inputs: map[string]any{"topics": []any{"x", "y", "z", "w"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if te.models.calls != 4 {
		t.Errorf("%d calls, want 3 then 1", te.models.calls)
	}
	s := step(t, run, "each")
	if s.Usage.InputTokens != 10 || s.CostUSD == nil || *s.CostUSD != 0.5 || run.CostUSD != 0.5 {
		t.Errorf("the step counts usage %+v cost %v (run %v); want only the item that ran", s.Usage, s.CostUSD, run.CostUSD)
	}
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/b"}}, Default: "fast"}
	again, err := te.eng.Replay(t.Context(), ReplayOptions{Source: run.ID, Inputs: map[string]any{"topics": []any{"x", "y", "z", "w", "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, again, RunCompleted)
	if te.models.calls != 9 {
		t.Errorf("%d calls after re-pointing the alias, want 4+5", te.models.calls)
	}
}

// Items recorded by an older kitaru have no key: after their alias moved,
// they are not reused by position (the old model's answers), and so not
// passed on as the new model's to later replays either.
func TestReplayKeylessItemsAfterTheAliasMoved(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/a"}}, Default: "fast"}
	f := te.flow(`
name: llmfan
inputs:
  topics: {type: list, default: [x, y, z]}
steps:
  each: {kind: llm, model: fast, foreach: inputs.topics, prompt: 'about ${{ item }}'}
`)
	src := te.start(f, nil)
	wantStatus(t, src, RunCompleted)
	stripItemKeys(t, te, src.ID, "each")
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/b"}}, Default: "fast"}
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if te.models.calls != 6 {
		t.Fatalf("%d calls, want 3 then 3 with the new model", te.models.calls)
	}
	for _, it := range step(t, run, "each").Items {
		if it.Reused {
			t.Fatalf("item %d was reused from the old model", it.Index)
		}
	}
}

// A replay of a run stopped in the middle of a foreach step (cancelled or
// interrupted: the step has no record, only some items do) reuses the
// items that finished.
func TestReplayOfStoppedRunReusesItems(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"cancel", "interrupt"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			f := te.flow(`
name: stopfan
inputs:
  xs: {type: list, default: [a, b, c]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.xs
    run: |
      echo x >> COUNTER/${{ item }}
      if [ ${{ item }} = c ] && [ ! -f COUNTER/go ]; then touch COUNTER/waiting; sleep 30 & wait; fi
      echo ${{ item }}${{ item }}
`)
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			eng := New(Config{Store: te.store, Parallel: 1, Observer: ObserverFunc(func(e Event) {
				if e.Type == EventStepStarted && e.Step == "each" {
					id := e.RunID
					go func() {
						waitFor(t, func() bool { _, err := os.Stat(filepath.Join(te.counter, "waiting")); return err == nil })
						if how == "cancel" {
							if _, err := te.eng.Cancel(context.Background(), id); err != nil {
								t.Error(err)
							}
						} else {
							stop()
						}
					}()
				}
			})})
			src, err := eng.Start(ctx, StartOptions{Flow: f, Inputs: map[string]any{"xs": []any{"a", "b", "c"}}})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]RunStatus{"cancel": RunCancelled, "interrupt": RunInterrupted}[how]
			wantStatus(t, src, want)
			os.WriteFile(filepath.Join(te.counter, "go"), nil, 0o600)
			run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if out, _ := OutputValue(step(t, run, "each").Output); fmt.Sprint(out) != "[aa bb cc]" {
				t.Errorf("output %v", out)
			}
			if te.count("a") != 1 || te.count("b") != 1 || te.count("c") != 2 {
				t.Errorf("counts a=%d b=%d c=%d, want 1 1 2", te.count("a"), te.count("b"), te.count("c"))
			}
			// c did not finish in the source, which has no record of it:
			// it is not new or changed.
			wantWhy(t, run, "each", src.ID, Reason{Code: runstore.ReasonNotRun})
			wantCodes := map[runstore.ReasonCode]int{runstore.ReasonMatched: 2, runstore.ReasonNotRun: 1}
			if got := itemCodes(step(t, run, "each")); !reflect.DeepEqual(got, wantCodes) {
				t.Errorf("the items give reasons %v, want %v", got, wantCodes)
			}
		})
	}
}

// Item records written before items had keys: reused by position when the
// step's fingerprint is unchanged, else they run again.
func TestReplayItemsWithoutKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		inputs map[string]any
		counts string
	}{
		{name: "same list", counts: "a=1 b=2 c=1"},
		{name: "an item added", inputs: map[string]any{"xs": []any{"a", "b", "c", "d"}}, counts: "a=2 b=2 c=2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
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
			stripItemKeys(t, te, src.ID, "each")
			os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600)
			run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Inputs: tt.inputs})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if got := fmt.Sprintf("a=%d b=%d c=%d", te.count("a"), te.count("b"), te.count("c")); got != tt.counts {
				t.Errorf("counts %s, want %s", got, tt.counts)
			}
		})
	}
}

// stripItemKeys rewrites a step's item records as versions before keys
// wrote them.
func stripItemKeys(t *testing.T, te *testEnv, id, stepID string) {
	t.Helper()
	items, err := te.store.LoadItems(bg, id, stepID)
	if err != nil || len(items) == 0 {
		t.Fatalf("no item records: %v", err)
	}
	for _, it := range items {
		if it.Key == "" {
			t.Fatalf("item %d has no key to strip", it.Index)
		}
		it.Key = ""
		if err := te.store.SaveItem(bg, id, stepID, it); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplayFromItemErrors(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(strings.Replace(itemsFlow, "steps:\n", "steps:\n  off: {kind: checkpoint, if: 'inputs.tone == \"never\"', foreach: inputs.xs, run: echo}\n", 1))
	src := te.start(f, nil)
	wantStatus(t, src, RunCompleted)
	choice := func(sel, step string, n int, p ItemProblem, items int) error {
		return &ItemChoiceError{Role: SelectFrom, Sel: sel, Step: step, Item: n, Problem: p, Items: items, Run: src.ID}
	}
	for sel, want := range map[string]error{
		"each[3]":  choice("each[3]", "each", 3, ItemPastEnd, 3),
		"list[0]":  choice("list[0]", "list", 0, ItemNoForeach, 0),
		"off[0]":   choice("off[0]", "off", 0, ItemSkipped, 0),
		"each[-1]": &ItemChoiceError{Role: SelectFrom, Sel: "each[-1]", Step: "each", Problem: ItemBadSelector},
		"nope[1]":  &StepChoiceError{Role: SelectFrom, Sel: "nope", Steps: []string{"off", "list", "each", "join"}},
	} {
		_, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, From: sel})
		wantRefused(t, err, want)
	}
	if n := len(mustList(t, te)); n != 1 {
		t.Errorf("%d runs; a refused replay must not make one", n)
	}
}

// --from STEP[N] of a step that did not complete in the source is refused
// before any run is made when the source has no record of item N or past
// it (nothing to run again: any replay runs such an item), saying how far
// its records go; an item it recorded is taken.
func TestReplayFromItemOfAnUnfinishedStep(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	lastFails := te.flow(`
name: fan
steps:
  each:
    kind: checkpoint
    foreach: ${{ ["a", "b", "c"] }}
    run: test ${{ item }} != c
`)
	failing := te.start(lastFails, nil)
	wantStatus(t, failing, RunFailed)
	// The same run as a kill -9 leaves it: item records, no step record
	// and no index.
	killed := te.start(lastFails, nil)
	if err := te.store.ForgetStep(bg, killed.ID, "each"); err != nil {
		t.Fatal(err)
	}
	m, err := te.store.LoadMeta(bg, killed.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.Index, m.Status = nil, RunInterrupted
	if err := te.store.SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	waiting := te.start(te.flow(`
name: gated
steps:
  gate:
    kind: wait
    question: Go on?
  each:
    kind: checkpoint
    foreach: ${{ [steps.gate.output] }}
    run: echo ${{ item }}
`), nil)
	wantStatus(t, waiting, RunWaiting)
	runs := len(mustList(t, te))
	unrecorded := func(src, sel string, n, items int, status StepStatus) error {
		return &ItemChoiceError{Role: SelectFrom, Sel: sel, Step: "each", Item: n, Problem: ItemUnrecorded, Items: items, Run: src, Status: status}
	}
	for _, tc := range []struct {
		src, sel string
		want     error // nil: the replay runs
	}{
		{failing.ID, "each[3]", unrecorded(failing.ID, "each[3]", 3, 3, StepFailed)},
		{killed.ID, "each[5]", unrecorded(killed.ID, "each[5]", 5, 3, "")},
		{waiting.ID, "each[0]", unrecorded(waiting.ID, "each[0]", 0, 0, "")},
		{failing.ID, "each[1]", nil},
		{killed.ID, "each[2]", nil},
	} {
		run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: tc.src, From: tc.sel})
		if tc.want == nil {
			if err != nil || run.Status != RunFailed {
				t.Errorf("--from %s of %s: %v, %v; want the replay to run (and c to fail again)", tc.sel, tc.src, run, err)
			}
			runs++
			continue
		}
		wantRefused(t, err, tc.want)
	}
	if n := len(mustList(t, te)); n != runs {
		t.Errorf("%d runs, want %d: a refused replay must not make one", n, runs)
	}
}

// wantRefused fails t unless err is a usage error holding want (an
// *ItemChoiceError or a *StepChoiceError) as it is.
func wantRefused(t *testing.T, err, want error) {
	t.Helper()
	var ue *UsageError
	var got error
	var ic *ItemChoiceError
	var sc *StepChoiceError
	switch {
	case errors.As(err, &ic):
		got = ic
	case errors.As(err, &sc):
		got = sc
	}
	if !errors.As(err, &ue) || !reflect.DeepEqual(got, want) {
		t.Errorf("%v (%#v); want a usage error with %#v", err, got, want)
	}
}

// An override replaces a step's whole output, so it does not go with an
// item of that step: --override STEP[N], and --from STEP[N] with --override
// STEP, are refused (no run made) saying what to write. --from STEP with
// --override STEP takes the override, and an override upstream of
// --from STEP[N] goes with it.
func TestReplayOverrideAndItems(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	src := te.start(te.flow(itemsFlow), nil)
	wantStatus(t, src, RunCompleted)
	for _, tc := range []struct {
		from      string
		overrides map[string]any
		want      error // nil: the replay runs
	}{
		{from: "each[0]", overrides: map[string]any{"each": []any{"x"}},
			want: &ItemChoiceError{Role: SelectFrom, Sel: "each[0]", Step: "each", Problem: ItemOverridden}},
		{from: "each[1]", overrides: map[string]any{"checkpoint.each": []any{"x"}},
			want: &ItemChoiceError{Role: SelectFrom, Sel: "each[1]", Step: "each", Item: 1, Problem: ItemOverridden}},
		{overrides: map[string]any{"each[1]": "x"},
			want: &ItemChoiceError{Role: SelectOverride, Sel: "each[1]", Step: "each", Item: 1, Problem: ItemOverride}},
		{overrides: map[string]any{"nope[1]": "x"},
			want: &StepChoiceError{Role: SelectOverride, Sel: "nope[1]", Steps: []string{"list", "each", "join"}}},
		{from: "each", overrides: map[string]any{"each": []any{"x"}}},
		{from: "each[0]", overrides: map[string]any{"list": []any{"a", "b", "c"}}},
	} {
		runs := len(mustList(t, te))
		_, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, From: tc.from, Overrides: tc.overrides})
		if tc.want == nil {
			if err != nil {
				t.Errorf("--from %q --override %v: %v", tc.from, tc.overrides, err)
			}
			continue
		}
		wantRefused(t, err, tc.want)
		if n := len(mustList(t, te)); n != runs {
			t.Errorf("--from %q --override %v made a run", tc.from, tc.overrides)
		}
	}
}

func mustList(t *testing.T, te *testEnv) []*Run {
	t.Helper()
	runs, err := te.eng.List(t.Context(), ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// --from STEP[N] of a replay that reused STEP whole reads the items where
// they are, in the run that ran them.
func TestReplayFromItemOfAReusedStep(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	src := te.start(te.flow(itemsFlow), nil)
	same, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID})
	if err != nil {
		t.Fatal(err)
	}
	if s := step(t, same, "each"); !s.Reused {
		t.Fatalf("each ran in the plain replay: %+v", s.Why)
	}
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: same.ID, From: "each[0]"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if te.count("a") != 2 || te.count("b") != 1 || te.count("c") != 1 || te.count("join") != 2 {
		t.Errorf("counts a=%d b=%d c=%d join=%d, want 2 1 1 2", te.count("a"), te.count("b"), te.count("c"), te.count("join"))
	}
	wantWhy(t, run, "each", same.ID, Reason{Code: runstore.ReasonFrom, From: "each[0]"})
	want := map[runstore.ReasonCode]int{runstore.ReasonMatched: 2, runstore.ReasonFrom: 1}
	if got := itemCodes(step(t, run, "each")); !reflect.DeepEqual(got, want) {
		t.Errorf("the items give reasons %v, want %v", got, want)
	}
	for _, it := range step(t, run, "each").Items {
		if it.Why.Code == runstore.ReasonMatched && it.Why.Run != src.ID {
			t.Errorf("item %d: why %+v, want it reused from %s, which ran it", it.Index, it.Why, src.ID)
		}
	}
	wantWhy(t, run, "list", same.ID, Reason{Code: runstore.ReasonNotDownstream, Run: src.ID, From: "each[0]"})
}

// itemCodes counts the reasons a foreach step's items give.
func itemCodes(s StepResult) map[runstore.ReasonCode]int {
	out := map[runstore.ReasonCode]int{}
	for _, it := range s.Items {
		if it.Why != nil {
			out[it.Why.Code]++
		}
	}
	return out
}

// Items pickItems matched with nothing are new or changed only when the
// source holds a readable record at their place or finished the step.
func TestExplainMisses(t *testing.T) {
	t.Parallel()
	done := &ItemResult{Status: StepCompleted, Key: "other"}
	tests := []struct {
		name    string
		prev    map[int]*ItemResult
		damaged map[int]bool
		whole   bool
		want    itemWhy
	}{
		{"changed", map[int]*ItemResult{0: done}, nil, true, itemNoMatch},
		{"new, the source finished the step", nil, nil, true, itemNoMatch},
		{"changed, though the source stopped", map[int]*ItemResult{0: done}, nil, false, itemNoMatch},
		{"no record, the source stopped", nil, nil, false, itemNotRun},
		{"damaged", nil, map[int]bool{0: true}, true, itemUnreadable},
		{"damaged, the source stopped", nil, map[int]bool{0: true}, false, itemUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			picks := []itemPick{{why: itemNoMatch}, {why: itemReused, src: done}, {why: itemRedo}, {why: itemUnfinished}}
			explainMisses(picks, tt.prev, tt.damaged, tt.whole)
			if picks[0].why != tt.want {
				t.Errorf("why %d, want %d", picks[0].why, tt.want)
			}
			for i, want := range []itemWhy{itemReused, itemRedo, itemUnfinished} {
				if picks[i+1].why != want {
					t.Errorf("pick %d changed to %d", i+1, picks[i+1].why)
				}
			}
		})
	}
}

// An item whose record in the source cannot be read runs again, and its
// reason says so rather than calling it new or changed.
func TestReplayWithADamagedItemRecord(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	src := te.start(te.flow(itemsFlow), nil)
	wantStatus(t, src, RunCompleted)
	p := filepath.Join(te.files.StepDir(src.ID, "each"), "items", "1.json")
	if err := os.WriteFile(p, []byte(`{"index": 1, "sta`), 0o600); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, From: "list"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if te.count("a") != 1 || te.count("b") != 2 || te.count("c") != 1 {
		t.Errorf("counts a=%d b=%d c=%d, want 1 2 1", te.count("a"), te.count("b"), te.count("c"))
	}
	var got []Reason
	for _, it := range step(t, run, "each").Items {
		got = append(got, whyOf(it.Why, src.ID))
	}
	want := []Reason{{Code: runstore.ReasonMatched, Run: "SRC"}, {Code: runstore.ReasonUnreadable, Run: "SRC"}, {Code: runstore.ReasonMatched, Run: "SRC"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items' reasons %+v, want %+v", got, want)
	}
}
