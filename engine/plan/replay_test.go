package plan

import (
	"reflect"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

func TestReplay(t *testing.T) {
	t.Parallel()
	type R = runstore.Reason
	const (
		completed = runstore.StepCompleted
		src       = "kr-src"
	)
	// all: every step of diamond completed in the source, the records
	// its own; with edits the cases' changes to it.
	all := func(edits map[string]Recorded) map[string]Recorded {
		out := map[string]Recorded{}
		for id := range diamond {
			out[id] = Recorded{Status: completed}
		}
		for id, r := range edits {
			if r == (Recorded{}) {
				delete(out, id)
				continue
			}
			out[id] = r
		}
		return out
	}
	group := func(run string, st runstore.StepStatus, steps ...string) runstore.ReusedGroup {
		return runstore.ReusedGroup{Run: run, Status: st, Steps: steps}
	}
	moved := &runstore.ModelChange{Was: "m/a", Now: "m/b", WasAlias: "fast", NowAlias: "fast"}
	abcd := map[string]bool{"a": true, "b": true, "c": true, "d": true}
	gone := R{Code: runstore.ReasonRecordMissing, Run: src}
	homeGone := R{Code: runstore.ReasonHomeGone, Run: "kr-old"}
	tests := []struct {
		name    string
		in      ReplayInput
		runs    map[string]R
		reused  []runstore.ReusedGroup
		notes   map[string]R
		tainted []string
	}{
		{
			name:   "nothing changed",
			in:     ReplayInput{Recorded: all(nil)},
			runs:   map[string]R{},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "d", "e")},
		},
		{
			name: "from",
			in:   ReplayInput{Recorded: all(nil), From: "b", FromSel: "b"},
			runs: map[string]R{
				"b": {Code: runstore.ReasonFrom, From: "b"},
				"d": {Code: runstore.ReasonDownstreamOfFrom, From: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name:   "a continued failure is reused like a completion",
			in:     ReplayInput{Recorded: all(map[string]Recorded{"b": {Status: runstore.StepFailed}}), Continued: map[string]bool{"b": true}},
			runs:   map[string]R{},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "c", "d", "e"), group(src, runstore.StepFailed, "b")},
		},
		{
			name: "a failure not continued (any more) runs again, and what follows it",
			in:   ReplayInput{Recorded: all(map[string]Recorded{"b": {Status: runstore.StepFailed}}), Continued: map[string]bool{"c": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonUnfinished, Status: runstore.StepFailed},
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name: "a continued failure whose definition changed runs again",
			in: ReplayInput{Recorded: all(map[string]Recorded{"b": {Status: runstore.StepFailed}}), Continued: map[string]bool{"b": true},
				Changed: map[string]bool{"b": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonFingerprintChanged},
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name:   "from an item",
			in:     ReplayInput{Recorded: all(nil), From: "d", FromSel: "d[2]"},
			runs:   map[string]R{"d": {Code: runstore.ReasonFrom, From: "d[2]"}},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "e")},
		},
		{
			name: "override",
			in:   ReplayInput{Recorded: all(nil), Overrides: map[string]bool{"a": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonDownstreamOverride, Step: "a"},
				"c": {Code: runstore.ReasonDownstreamOverride, Step: "a"},
				"d": {Code: runstore.ReasonDownstreamOverride, Step: "a"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name:    "two overrides: the first names what is downstream of both",
			in:      ReplayInput{Recorded: all(nil), Overrides: map[string]bool{"b": true, "c": true}},
			runs:    map[string]R{"d": {Code: runstore.ReasonDownstreamOverride, Step: "b"}},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "e")},
			tainted: []string{"d"},
		},
		{
			name: "the --from step overridden",
			in:   ReplayInput{Recorded: all(nil), From: "a", FromSel: "a", Overrides: map[string]bool{"a": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonDownstreamOfFrom, From: "a"},
				"c": {Code: runstore.ReasonDownstreamOfFrom, From: "a"},
				"d": {Code: runstore.ReasonDownstreamOfFrom, From: "a"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name: "from downstream of an override: --from names itself",
			in:   ReplayInput{Recorded: all(nil), From: "b", FromSel: "b", Overrides: map[string]bool{"a": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonFrom, From: "b"},
				"c": {Code: runstore.ReasonDownstreamOverride, Step: "a"},
				"d": {Code: runstore.ReasonDownstreamOfFrom, From: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name: "fingerprint changed",
			in:   ReplayInput{Recorded: all(nil), Changed: map[string]bool{"c": true}},
			runs: map[string]R{
				"c": {Code: runstore.ReasonFingerprintChanged},
				"d": {Code: runstore.ReasonDownstream, Step: "c"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "b", "e")},
			tainted: []string{"d"},
		},
		{
			name: "two changed: the first in dependency order is named",
			in:   ReplayInput{Recorded: all(nil), Changed: map[string]bool{"b": true, "c": true}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonFingerprintChanged},
				"c": {Code: runstore.ReasonFingerprintChanged},
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "e")},
			tainted: []string{"d"},
		},
		{
			name: "an override outranks a change upstream",
			in:   ReplayInput{Recorded: all(nil), Changed: map[string]bool{"a": true}, Overrides: map[string]bool{"b": true}},
			runs: map[string]R{
				"a": {Code: runstore.ReasonFingerprintChanged},
				"c": {Code: runstore.ReasonDownstream, Step: "a"},
				"d": {Code: runstore.ReasonDownstreamOverride, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name: "model changed",
			in:   ReplayInput{Recorded: all(nil), Models: map[string]*runstore.ModelChange{"b": moved}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonModelChanged, Model: moved},
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name:   "no record, the source's steps unknown",
			in:     ReplayInput{Recorded: all(map[string]Recorded{"e": {}})},
			runs:   map[string]R{"e": {Code: runstore.ReasonNoRecord}},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "d")},
		},
		{
			name:   "a new step",
			in:     ReplayInput{Recorded: all(map[string]Recorded{"e": {}}), InSource: abcd},
			runs:   map[string]R{"e": {Code: runstore.ReasonNewStep}},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "d")},
		},
		{
			name: "a step that never ran (the source was killed)",
			in:   ReplayInput{Recorded: all(map[string]Recorded{"c": {}, "d": {}}), InSource: map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}},
			runs: map[string]R{
				"c": {Code: runstore.ReasonNotRun},
				"d": {Code: runstore.ReasonDownstream, Step: "c"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "b", "e")},
			tainted: []string{"d"},
		},
		{
			name: "unfinished",
			in:   ReplayInput{Recorded: all(map[string]Recorded{"b": {Status: runstore.StepFailed}})},
			runs: map[string]R{
				"b": {Code: runstore.ReasonUnfinished, Status: runstore.StepFailed},
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name: "with --from, a step without a record still runs",
			in:   ReplayInput{Recorded: all(map[string]Recorded{"e": {}}), InSource: abcd, From: "d", FromSel: "d"},
			runs: map[string]R{
				"d": {Code: runstore.ReasonFrom, From: "d"},
				"e": {Code: runstore.ReasonNewStep},
			},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c")},
		},
		{
			name: "a missing record runs, with what is downstream of it",
			in:   ReplayInput{Recorded: all(nil), Missing: map[string]R{"b": gone}},
			runs: map[string]R{
				"b": gone,
				"d": {Code: runstore.ReasonDownstream, Step: "b"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "c", "e")},
			tainted: []string{"d"},
		},
		{
			name: "a missing record is said before a changed fingerprint or no record",
			in: ReplayInput{Recorded: all(map[string]Recorded{"e": {}}), InSource: abcd,
				Changed: map[string]bool{"c": true}, Missing: map[string]R{"c": gone, "e": gone}},
			runs: map[string]R{
				"c": gone,
				"d": {Code: runstore.ReasonDownstream, Step: "c"},
				"e": gone,
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a", "b")},
			tainted: []string{"d"},
		},
		{
			name: "with --from, a missing record upstream runs, its home named",
			in: ReplayInput{Recorded: all(map[string]Recorded{"a": {Status: completed, Home: "kr-old"}}), From: "d", FromSel: "d",
				Missing: map[string]R{"a": homeGone}},
			runs: map[string]R{
				"a": homeGone,
				"b": {Code: runstore.ReasonDownstream, Step: "a"},
				"c": {Code: runstore.ReasonDownstream, Step: "a"},
				"d": {Code: runstore.ReasonFrom, From: "d"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name: "--from and an override outrank a missing record",
			in: ReplayInput{Recorded: all(nil), From: "b", FromSel: "b", Overrides: map[string]bool{"c": true},
				Missing: map[string]R{"c": gone, "d": gone, "e": gone}},
			runs: map[string]R{
				"b": {Code: runstore.ReasonFrom, From: "b"},
				"d": {Code: runstore.ReasonDownstreamOfFrom, From: "b"},
				"e": gone,
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "a")},
			tainted: []string{"d"},
		},
		{
			name: "a missing record downstream of a step that runs is named downstream of it",
			in:   ReplayInput{Recorded: all(nil), Changed: map[string]bool{"a": true}, Missing: map[string]R{"d": gone}},
			runs: map[string]R{
				"a": {Code: runstore.ReasonFingerprintChanged},
				"b": {Code: runstore.ReasonDownstream, Step: "a"},
				"c": {Code: runstore.ReasonDownstream, Step: "a"},
				"d": {Code: runstore.ReasonDownstream, Step: "a"},
			},
			reused:  []runstore.ReusedGroup{group(src, completed, "e")},
			tainted: []string{"b", "c", "d"},
		},
		{
			name: "reused grouped by home run and status",
			in: ReplayInput{Recorded: all(map[string]Recorded{
				"a": {Status: completed, Home: "kr-old"},
				"b": {Status: runstore.StepSkipped},
				"e": {Status: completed, Home: "kr-old"},
			})},
			runs: map[string]R{},
			reused: []runstore.ReusedGroup{
				group("kr-old", completed, "a", "e"),
				group(src, runstore.StepSkipped, "b"),
				group(src, completed, "c", "d"),
			},
		},
		{
			name: "notes: what changed in steps --from reused",
			in: ReplayInput{Recorded: all(nil), From: "d", FromSel: "d", Edited: true, Drift: map[string]Drift{
				"a": {},
				"b": {DepsOnly: true, ChangedDep: "a"},
				"c": {DepsOnly: true},
				"d": {}, // runs: no note
				"e": {InputsOnly: true},
			}},
			runs:   map[string]R{"d": {Code: runstore.ReasonFrom, From: "d"}},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "e")},
			notes: map[string]R{
				"a": {Code: runstore.ReasonDefinitionChanged},
				"b": {Code: runstore.ReasonDependencyChanged, Step: "a"},
				"c": {Code: runstore.ReasonDependencyChanged},
				"e": {Code: runstore.ReasonInputChanged},
			},
		},
		{
			name: "notes: a model change first; no flow file, no definition named",
			in: ReplayInput{Recorded: all(nil), From: "d", FromSel: "d", Drift: map[string]Drift{"a": {}, "b": {}},
				Models: map[string]*runstore.ModelChange{"b": moved}},
			runs:   map[string]R{"d": {Code: runstore.ReasonFrom, From: "d"}},
			reused: []runstore.ReusedGroup{group(src, completed, "a", "b", "c", "e")},
			notes: map[string]R{
				"a": {Code: runstore.ReasonFingerprintChanged},
				"b": {Code: runstore.ReasonModelChanged, Model: moved},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.in
			in.Graph, in.Order, in.Source = diamond, []string{"a", "b", "c", "d", "e"}, src
			got := Replay(in)
			if !reflect.DeepEqual(got.Runs, tt.runs) {
				t.Errorf("runs %+v, want %+v", got.Runs, tt.runs)
			}
			if !reflect.DeepEqual(got.Reused, tt.reused) {
				t.Errorf("reused %+v, want %+v", got.Reused, tt.reused)
			}
			if !reflect.DeepEqual(got.Notes, tt.notes) {
				t.Errorf("notes %+v, want %+v", got.Notes, tt.notes)
			}
			var tainted []string
			for _, id := range in.Order {
				if got.Tainted[id] {
					tainted = append(tainted, id)
				}
			}
			if !reflect.DeepEqual(tainted, tt.tainted) {
				t.Errorf("tainted %v, want %v", tainted, tt.tainted)
			}
		})
	}
}
