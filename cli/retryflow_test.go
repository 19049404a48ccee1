package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// TestRetryFlowGolden: what `executions get` says of a run retried against
// its edited flow, and what a failed run says about picking up an edit.
func TestRetryFlowGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	end := t0.Add(5 * time.Second)
	why := func(code runstore.ReasonCode, step string) *engine.Reason {
		return &engine.Reason{Code: code, Step: step}
	}
	run := &engine.Run{ID: "kr-edit", Flow: "digest", Status: engine.RunCompleted, StartedAt: t0, EndedAt: &end,
		FlowFile: "/work/flows/digest.yaml", Inputs: map[string]any{},
		Steps: []engine.StepResult{
			{ID: "fetch", Kind: "checkpoint", Status: engine.StepCompleted, Attempts: 1, DurationMS: 300},
			{ID: "summarize", Kind: "checkpoint", Status: engine.StepCompleted, Attempts: 2, DurationMS: 3200, Why: why(runstore.ReasonDefinitionChanged, "")},
			{ID: "publish", Kind: "checkpoint", Status: engine.StepCompleted, Attempts: 1, DurationMS: 100, Why: why(runstore.ReasonDownstream, "summarize")},
			{ID: "notify", Kind: "checkpoint", Status: engine.StepCompleted, Attempts: 1, DurationMS: 50, Why: why(runstore.ReasonAddedStep, "")},
		}}
	var b bytes.Buffer
	if err := writeRunDetail(&b, run); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/get_retry_flow.txt.golden", b.String())

	// The failure names the flow file, as typed where kitaru runs.
	failed := *run
	failed.Status, failed.Ending = engine.RunFailed, &engine.Ending{Code: runstore.EndStepFailed, Step: "summarize"}
	failed.Error = strp("timed out after 1.0s (its processes were killed): the command was stopped by signal 9 (killed)")
	failed.Steps = []engine.StepResult{{ID: "summarize", Kind: "checkpoint", Status: engine.StepFailed, Error: failed.Error}}
	b.Reset()
	for _, file := range []string{filepath.Join(mustWd(t), "digest.yaml"), "/elsewhere/my flow.yaml", ""} {
		failed.FlowFile = file
		_ = reportRun(&IO{Stdout: &bytes.Buffer{}, Stderr: &b}, false, false, &failed)
	}
	checkGolden(t, "cli/retry_flow_failed.txt.golden", b.String())
}

func mustWd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestFlowChangeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    *engine.FlowChange
		want string
	}{
		{&engine.FlowChange{File: "/elsewhere/f.yaml", Edited: []string{"a", "b"}, Added: []string{"n"}, Removed: []string{"old"}},
			"now runs the edited /elsewhere/f.yaml: a, b edited; n added; old removed"},
		{&engine.FlowChange{}, "now runs the edited flow (no step's definition changed)"},
		{nil, "now runs an edited flow"},
	}
	for _, tt := range tests {
		if got := flowChangeText(tt.c); got != tt.want {
			t.Errorf("flowChangeText(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
