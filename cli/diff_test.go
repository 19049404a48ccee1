package cli

import (
	"bytes"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/providers"
)

// Two runs of one flow that differ in an input, a model, an output, an
// error, usage and cost, and in a step one of them lacks.
func sampleDiffRuns() (*engine.Run, *engine.Run) {
	cost := func(c float64) *float64 { return &c }
	errText := "exit status 3\nsecond line"
	src := "kr-aaaaaaaa"
	a := &engine.Run{ID: "kr-aaaaaaaa", Flow: "research_agent", Status: engine.RunCompleted,
		Inputs: map[string]any{"topic": "otters", "words": 80.0, "tone": "dry"},
		Usage:  providers.Usage{InputTokens: 1200, OutputTokens: 300}, CostUSD: 0.0042,
		Steps: []engine.StepResult{
			{ID: "fetch", Kind: "checkpoint", Status: engine.StepCompleted, Output: "page", Fingerprint: "f1"},
			{ID: "outline", Kind: "llm", Status: engine.StepCompleted, Output: "1. rivers", Model: "openai/gpt-4o-mini",
				Usage: providers.Usage{InputTokens: 1200, OutputTokens: 300}, CostUSD: cost(0.0042), Fingerprint: "o1"},
			{ID: "check", Kind: "checkpoint", Status: engine.StepFailed, Error: &errText, Fingerprint: "c1"},
			{ID: "old_step", Kind: "checkpoint", Status: engine.StepCompleted, Output: map[string]any{"n": 1.0}},
		}}
	b := &engine.Run{ID: "kr-bbbbbbbb", Flow: "research_agent", Status: engine.RunCompleted, ReplayOf: &src,
		Inputs: map[string]any{"topic": "beavers", "words": 80.0},
		Usage:  providers.Usage{InputTokens: 1500, OutputTokens: 420}, CostUSD: 0.0161,
		Steps: []engine.StepResult{
			{ID: "fetch", Kind: "checkpoint", Status: engine.StepCompleted, Output: "page", Reused: true, Fingerprint: "f1"},
			{ID: "outline", Kind: "llm", Status: engine.StepCompleted, Output: "1. dams", Model: "anthropic/claude-3-5-haiku",
				Usage: providers.Usage{InputTokens: 1500, OutputTokens: 420}, CostUSD: cost(0.0161), Fingerprint: "o2"},
			{ID: "check", Kind: "checkpoint", Status: engine.StepCompleted, Output: true, Fingerprint: "c1"},
			{ID: "new_step", Kind: "checkpoint", Status: engine.StepSkipped},
		}}
	return a, b
}

func TestDiffTextGolden(t *testing.T) {
	t.Parallel()
	a, b := sampleDiffRuns()
	var out bytes.Buffer
	if err := writeDiff(&out, engine.Diff(a, b)); err != nil {
		t.Fatal(err)
	}
	out.WriteString("--\n")
	if err := writeDiff(&out, engine.Diff(a, a)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/diff.txt.golden", out.String())

	out.Reset()
	if err := writeJSON(&out, engine.Diff(a, b)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/diff.json.golden", out.String())
}
