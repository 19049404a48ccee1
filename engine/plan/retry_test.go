package plan

import (
	"reflect"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	type R = runstore.Reason
	const (
		completed = runstore.StepCompleted
		failed    = runstore.StepFailed
	)
	edited := R{Code: runstore.ReasonDefinitionChanged}
	added := R{Code: runstore.ReasonAddedStep}
	down := func(step string) R { return R{Code: runstore.ReasonDownstream, Step: step} }
	every := map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}
	// rec: the steps of diamond recorded with status, the others unrecorded.
	rec := func(st runstore.StepStatus, ids ...string) map[string]runstore.StepStatus {
		out := map[string]runstore.StepStatus{}
		for _, id := range ids {
			out[id] = st
		}
		return out
	}
	set := func(ids ...string) map[string]bool {
		out := map[string]bool{}
		for _, id := range ids {
			out[id] = true
		}
		return out
	}
	tests := []struct {
		name string
		in   RetryInput
		redo map[string]R
		runs map[string]R
	}{
		{
			name: "nothing edited: only the failed step goes",
			in:   RetryInput{Recorded: map[string]runstore.StepStatus{"a": completed, "b": failed, "c": completed, "e": completed}, InRun: every, Again: set("b")},
			redo: map[string]R{"b": {}},
			runs: map[string]R{},
		},
		{
			name: "an edited step runs again with its descendants, recorded or not",
			in:   RetryInput{Recorded: rec(completed, "a", "b", "c", "e"), InRun: every, Edited: set("b"), Changed: set("b", "d")},
			redo: map[string]R{"b": edited},
			runs: map[string]R{"b": edited, "d": down("b")},
		},
		{
			name: "the edited failed step names the edit",
			in:   RetryInput{Recorded: map[string]runstore.StepStatus{"a": completed, "b": failed, "c": completed, "e": completed}, InRun: every, Edited: set("b"), Changed: set("b"), Again: set("b")},
			redo: map[string]R{"b": edited},
			runs: map[string]R{"b": edited, "d": down("b")},
		},
		{
			name: "the first edit upstream is the one a descendant names",
			in:   RetryInput{Recorded: rec(completed, "a", "b", "c", "d", "e"), InRun: every, Edited: set("a", "c"), Changed: set("a", "b", "c", "d")},
			redo: map[string]R{"a": edited, "b": down("a"), "c": edited, "d": down("a")},
			runs: map[string]R{"a": edited, "b": down("a"), "c": edited, "d": down("a")},
		},
		{
			name: "an added step runs, and what depends on it",
			in:   RetryInput{Recorded: rec(completed, "a", "b", "d", "e"), InRun: set("a", "b", "d", "e"), Changed: set("d")},
			redo: map[string]R{"d": down("c")},
			runs: map[string]R{"c": added, "d": down("c")},
		},
		{
			name: "what followed a failure goes with it, edited or not",
			in: RetryInput{Recorded: map[string]runstore.StepStatus{"a": failed, "b": runstore.StepSkipped, "c": runstore.StepSkipped, "e": completed},
				InRun: every, Edited: set("c"), Changed: set("c"), Again: set("a", "b", "c")},
			redo: map[string]R{"a": {}, "b": {}, "c": edited},
			runs: map[string]R{"c": edited, "d": down("c")},
		},
		{
			name: "a fingerprint moved without an edit reads as a changed definition",
			in:   RetryInput{Recorded: rec(completed, "a", "b", "c", "d", "e"), InRun: every, Changed: set("e")},
			redo: map[string]R{"e": edited},
			runs: map[string]R{"e": edited},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.in.Graph = diamond
			p := Retry(tt.in)
			if !reflect.DeepEqual(p.Redo, tt.redo) {
				t.Errorf("redo %v, want %v", p.Redo, tt.redo)
			}
			if !reflect.DeepEqual(p.Runs, tt.runs) {
				t.Errorf("runs %v, want %v", p.Runs, tt.runs)
			}
		})
	}
}
