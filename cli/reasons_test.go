package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

func TestStepReason(t *testing.T) {
	t.Parallel()
	type R = engine.Reason
	moved := &engine.ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast"}
	switched := &engine.ModelChange{Was: "openai/a", Now: "openai/s", WasAlias: "fast", NowAlias: "slow"}
	raw := &engine.ModelChange{Was: "openai/a", Now: "openai/b"}
	server := &engine.ModelChange{Was: "openai/llama", Now: "openai/llama", WasAlias: "local", NowAlias: "local", WasBaseURL: "http://a:8000/v1", NowBaseURL: "http://b:8000/v1"}
	envChanged := &engine.ModelChange{Was: "openai/x", Now: "anthropic/y", WasDefault: true, NowDefault: true}
	envSet := &engine.ModelChange{Was: "openai/a", Now: "openai/s", WasAlias: "fast", NowAlias: "slow", NowDefault: true}
	envAliasMoved := &engine.ModelChange{Was: "openai/a", Now: "openai/b", WasAlias: "fast", NowAlias: "fast", WasDefault: true, NowDefault: true}
	notDown := func(though R) *R {
		return &R{Code: runstore.ReasonNotDownstream, Run: "kr-src", From: "c", Though: &though}
	}
	tests := []struct {
		name  string
		s     engine.StepResult
		want  string
		brief string // "": as want
	}{
		{"from", engine.StepResult{Why: &R{Code: runstore.ReasonFrom, From: "draft"}}, "--from draft", ""},
		{"from an item", engine.StepResult{Why: &R{Code: runstore.ReasonFrom, From: "each[2]"}}, "--from each[2]", ""},
		{"downstream of from", engine.StepResult{Why: &R{Code: runstore.ReasonDownstreamOfFrom, From: "b"}}, "downstream of --from b", ""},
		{"downstream of an override", engine.StepResult{Why: &R{Code: runstore.ReasonDownstreamOverride, Step: "a"}}, "downstream of the overridden step a", ""},
		{"downstream", engine.StepResult{Why: &R{Code: runstore.ReasonDownstream, Step: "c"}}, "downstream of c", ""},
		{"no record", engine.StepResult{Why: &R{Code: runstore.ReasonNoRecord}}, "no record of it in the source run (a new step, or one that never ran)", ""},
		{"new step", engine.StepResult{Why: &R{Code: runstore.ReasonNewStep}}, "a new step: the source run had none of this name", ""},
		{"not run", engine.StepResult{Why: &R{Code: runstore.ReasonNotRun}}, "no record of it in the source run: it did not run there, or was stopped", ""},
		{"unfinished", engine.StepResult{Why: &R{Code: runstore.ReasonUnfinished, Status: engine.StepFailed}}, "it did not complete in the source run (failed)", ""},
		{"fingerprint changed", engine.StepResult{Why: &R{Code: runstore.ReasonFingerprintChanged}}, "fingerprint changed: its definition or the inputs it reads differ", ""},
		{"alias moved", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: moved}}, "model changed: alias fast now resolves to openai/b, was openai/a", ""},
		{"alias switched", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: switched}}, "model changed: now openai/s (alias slow), was openai/a (alias fast)", ""},
		{"raw model", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: raw}}, "model changed: now openai/b, was openai/a", ""},
		{"alias moved to another server", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: server}},
			"model changed: alias local now resolves to openai/llama at http://b:8000/v1, was openai/llama at http://a:8000/v1", ""},
		{"KITARU_DEFAULT_MODEL changed", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: envChanged}},
			"model changed: now anthropic/y (from KITARU_DEFAULT_MODEL), was openai/x (from KITARU_DEFAULT_MODEL)", ""},
		{"KITARU_DEFAULT_MODEL set to an alias", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: envSet}},
			"model changed: now openai/s (alias slow, from KITARU_DEFAULT_MODEL), was openai/a (alias fast)", ""},
		{"the alias KITARU_DEFAULT_MODEL names moved", engine.StepResult{Why: &R{Code: runstore.ReasonModelChanged, Model: envAliasMoved}},
			"model changed: alias fast now resolves to openai/b, was openai/a", ""},
		{"overridden", engine.StepResult{Why: &R{Code: runstore.ReasonOverridden}}, "overridden", ""},
		{"edited (retry --flow)", engine.StepResult{Why: &R{Code: runstore.ReasonDefinitionChanged}}, "definition changed in the edited flow", ""},
		{"added (retry --flow)", engine.StepResult{Why: &R{Code: runstore.ReasonAddedStep}}, "a new step, added in the edited flow", ""},
		{"record missing", engine.StepResult{Why: &R{Code: runstore.ReasonRecordMissing, Run: "kr-src"}}, "its record in run kr-src is missing, so it runs again", ""},
		{"home run gone", engine.StepResult{Why: &R{Code: runstore.ReasonHomeGone, Run: "kr-old"}}, "run kr-old, which held its record, is gone, so it runs again", ""},
		{"unchanged", engine.StepResult{Why: &R{Code: runstore.ReasonUnchanged, Run: "kr-src"}}, "reused from kr-src: fingerprint unchanged", ""},
		{"not downstream", engine.StepResult{Why: &R{Code: runstore.ReasonNotDownstream, Run: "kr-src", From: "c"}}, "reused from kr-src: not downstream of --from c", ""},
		{"though its model changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonModelChanged, Model: moved})},
			"reused from kr-src: not downstream of --from c, though its model changed (alias fast now resolves to openai/b, was openai/a)",
			"reused from kr-src: not downstream of --from c, though its model changed"},
		{"though a dependency changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonDependencyChanged, Step: "a"})},
			"reused from kr-src: not downstream of --from c, though it depends on a, which changed", ""},
		{"though some dependency changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonDependencyChanged})},
			"reused from kr-src: not downstream of --from c, though a step it depends on changed", ""},
		{"though an input changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonInputChanged})},
			"reused from kr-src: not downstream of --from c, though an input it reads changed", ""},
		{"though its definition changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonDefinitionChanged})},
			"reused from kr-src: not downstream of --from c, though its definition changed in the edited flow", ""},
		{"though its fingerprint changed", engine.StepResult{Why: notDown(R{Code: runstore.ReasonFingerprintChanged})},
			"reused from kr-src: not downstream of --from c, though its definition or the inputs it reads changed", ""},
		{"though, an older kitaru's note", engine.StepResult{Why: notDown(R{Text: "an input it reads changed"})},
			"reused from kr-src: not downstream of --from c, though an input it reads changed", ""},
		{"dependency skipped", engine.StepResult{Why: &R{Code: runstore.ReasonDependencySkipped, Step: "gate"}}, "dependency gate was skipped", ""},
		{"if false", engine.StepResult{Why: &R{Code: runstore.ReasonIfFalse}}, "`if` was false", ""},
		{"dependency failed", engine.StepResult{Why: &R{Code: runstore.ReasonDependencyFailed, Step: "deploy"}}, "deploy failed", ""},
		{"a newer kitaru's code", engine.StepResult{Why: &R{Code: "something_new"}}, "something_new", ""},
		{"an older kitaru's sentence", engine.StepResult{Reason: "downstream of --from b; items: 2 reused from kr-x, 0 ran"},
			"downstream of --from b; items: 2 reused from kr-x, 0 ran", ""},
		{"no reason", engine.StepResult{}, "", ""},
		{"items", engine.StepResult{Why: &R{Code: runstore.ReasonDownstreamOfFrom, From: "list"}, Items: []engine.ItemResult{
			{Reused: true, Why: &R{Code: runstore.ReasonMatched, Run: "kr-src"}},
			{Reused: true, Why: &R{Code: runstore.ReasonMatched, Run: "kr-src"}},
			{Why: &R{Code: runstore.ReasonNoMatch, Run: "kr-src"}},
			{Why: &R{Code: runstore.ReasonUnfinished, Run: "kr-src"}},
			{Why: &R{Code: runstore.ReasonNotRun, Run: "kr-src"}},
			{Why: &R{Code: runstore.ReasonUnreadable, Run: "kr-src"}},
			{Why: &R{Code: runstore.ReasonFrom, From: "each[6]"}},
		}}, "downstream of --from list; items: 2 reused from kr-src, 5 ran (1 new or changed, 2 unfinished in kr-src, 1 unreadable in kr-src)", ""},
		{"items alone", engine.StepResult{Items: []engine.ItemResult{{Reused: true, Why: &R{Code: runstore.ReasonMatched, Run: "kr-src"}}}},
			"items: 1 reused from kr-src, 0 ran", ""},
		{"items of no run", engine.StepResult{Items: []engine.ItemResult{{Why: &R{Code: runstore.ReasonFrom, From: "each[0]"}}}},
			"items: 0 reused, 1 ran", ""},
		{"items without reasons", engine.StepResult{Items: []engine.ItemResult{{Status: engine.StepCompleted}}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := stepReason(&tt.s, false); got != tt.want {
				t.Errorf("stepReason = %q, want %q", got, tt.want)
			}
			brief := tt.brief
			if brief == "" {
				brief = tt.want
			}
			if got := stepReason(&tt.s, true); got != brief {
				t.Errorf("brief stepReason = %q, want %q", got, brief)
			}
		})
	}
}

func TestItemReason(t *testing.T) {
	t.Parallel()
	type R = engine.Reason
	three := 3
	tests := []struct {
		it   engine.ItemResult
		want string
	}{
		{engine.ItemResult{Why: &R{Code: runstore.ReasonMatched, Run: "kr-src"}}, "reused from kr-src"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonMatched, Run: "kr-src", Item: &three}}, "reused from kr-src (its item 3)"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonNoMatch, Run: "kr-src"}}, "new or changed: no finished item of kr-src has its value and inputs"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonUnfinished, Run: "kr-src"}}, "it did not complete in kr-src"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonNotRun, Run: "kr-src"}}, "no record of it in kr-src, which stopped before the step finished"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonUnreadable, Run: "kr-src"}}, "its record in kr-src cannot be read"},
		{engine.ItemResult{Why: &R{Code: runstore.ReasonFrom, From: "each[1]"}}, "--from each[1]"},
		{engine.ItemResult{Reason: "reused from kr-old"}, "reused from kr-old"},
	}
	for _, tt := range tests {
		if got := itemReason(&tt.it); got != tt.want {
			t.Errorf("itemReason(%+v) = %q, want %q", tt.it.Why, got, tt.want)
		}
	}
}

func TestRunError(t *testing.T) {
	t.Parallel()
	end := func(code runstore.EndCode, step string) *engine.Ending { return &engine.Ending{Code: code, Step: step} }
	tests := []struct {
		name   string
		ending *engine.Ending
		err    *string
		want   string
	}{
		{"completed", end(runstore.EndCompleted, ""), nil, ""},
		{"waiting", end(runstore.EndWaiting, "approve"), nil, ""},
		{"step failed", end(runstore.EndStepFailed, "fetch"), strp("exit status 3"), "step fetch failed: exit status 3"},
		{"step failed, no error", end(runstore.EndStepFailed, "fetch"), nil, "step fetch failed"},
		{"cancelled", end(runstore.EndCancelled, ""), nil, "cancelled by `kitaru executions cancel`"},
		{"interrupted", end(runstore.EndInterrupted, ""), nil, "interrupted; `kitaru resume kr-a` continues it"},
		{"store failed", end(runstore.EndStoreFailed, ""), strp("the record of step b could not be written: disk full"), "the record of step b could not be written: disk full"},
		{"never ready", end(runstore.EndNeverReady, "x"), nil, "step x never became ready (internal error)"},
		{"output failed", end(runstore.EndOutputFailed, ""), strp("no field missing"), "the flow's output: no field missing"},
		{"aborted", end(runstore.EndAborted, "approve"), nil, "aborted at the wait step approve"},
		{"wait expired", end(runstore.EndWaitExpired, "approve"), strp("no answer before the wait's timeout ran out at T"),
			"step approve failed: no answer before the wait's timeout ran out at T"},
		{"workflow failed", end(runstore.EndWorkflowFailed, ""), strp("its workflow failed: boom"),
			"on Temporal, its workflow failed: boom; `kitaru retry kr-a` continues it"},
		{"workflow lost", end(runstore.EndWorkflowLost, ""), strp("its workflow was terminated"),
			"on Temporal, its workflow was terminated; `kitaru resume kr-a` continues it"},
		{"workflow lost, no error", end(runstore.EndWorkflowLost, ""), nil,
			"on Temporal, its workflow stopped; `kitaru resume kr-a` continues it"},
		{"an older kitaru's sentence", nil, strp("step fetch failed: exit status 3"), "step fetch failed: exit status 3"},
		{"killed, no ending", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := runError(&engine.Run{ID: "kr-a", Ending: tt.ending, Error: tt.err}); got != tt.want {
				t.Errorf("runError = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContinuedText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ending *engine.Ending
		want   string
	}{
		{"no ending", nil, ""},
		{"nothing continued", &engine.Ending{Code: runstore.EndCompleted}, ""},
		{"one", &engine.Ending{Code: runstore.EndCompleted, Continued: []string{"fetch"}}, "1 step failed (continued): fetch"},
		{"two", &engine.Ending{Code: runstore.EndStepFailed, Step: "c", Continued: []string{"a", "b"}}, "2 steps failed (continued): a, b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := continuedText(tt.ending); got != tt.want {
				t.Errorf("continuedText = %q, want %q", got, tt.want)
			}
		})
	}
}

// --json prints the record with its reasons and error in words beside the
// data, and leaves the record it was given alone.
func TestRecordForJSON(t *testing.T) {
	t.Parallel()
	run := &engine.Run{ID: "kr-a", Status: engine.RunFailed, Error: strp("exit status 1"),
		Ending: &engine.Ending{Code: runstore.EndStepFailed, Step: "each"},
		Steps: []engine.StepResult{{ID: "each", Why: &engine.Reason{Code: runstore.ReasonFrom, From: "each[0]"},
			Items: []engine.ItemResult{{Why: &engine.Reason{Code: runstore.ReasonFrom, From: "each[0]"}}}}}}
	before, _ := json.Marshal(run)
	b, err := json.Marshal(recordForJSON(run))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Error  string
		Ending map[string]any
		Steps  []struct {
			Reason string
			Why    map[string]any
			Items  []struct{ Reason string }
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Error != "step each failed: exit status 1" || got.Ending["code"] != "step_failed" {
		t.Errorf("error %q, ending %v", got.Error, got.Ending)
	}
	s := got.Steps[0]
	if s.Reason != "--from each[0]; items: 0 reused, 1 ran" || s.Why["code"] != "from" || s.Items[0].Reason != "--from each[0]" {
		t.Errorf("step reason %q, why %v, item reason %q", s.Reason, s.Why, s.Items[0].Reason)
	}
	if after, _ := json.Marshal(run); !reflect.DeepEqual(before, after) || strings.Contains(string(after), `"reason"`) {
		t.Errorf("the record changed:\n%s\n%s", before, after)
	}
}
