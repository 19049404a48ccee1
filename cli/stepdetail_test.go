package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

func TestStepDetailShowsTheConversation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prompt.json"), []byte(`{"Model":"fast","Messages":[{"role":"user","content":"Paris and Rome?"}],"Tools":[{"name":"lookup","parameters":{}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := "the arguments do not match the parameters of tool add: missing b"
	fail1 := "turn 2: HTTP 503"
	one := 1
	run := &engine.Run{ID: "kr-x", Steps: []runstore.StepResult{
		{ID: "research", Kind: "llm", Status: runstore.StepCompleted, Attempts: 2, Output: "4.9 million", Dir: dir, Model: "openai/gpt-4o-mini",
			Usage:          providers.Usage{InputTokens: 30, OutputTokens: 10},
			AttemptsDetail: []runstore.Attempt{{Attempt: 1, Error: &fail1}, {Attempt: 2}},
			Turns: []runstore.Turn{
				{Turn: 1, Text: "Looking.", ToolCalls: []runstore.ToolCall{
					{Name: "lookup", ArgumentsText: `{"city":"Paris"}`, Output: "2100000", DurationMS: 97},
					{Name: "add", ArgumentsText: `{"a":1}`, Error: &failed}}},
				{Turn: 2, Text: "4.9 million"},
			}},
		{ID: "each", Kind: "llm", Status: runstore.StepCompleted, Items: []runstore.ItemResult{{Index: 0}, {Index: 1, Output: "b", Status: runstore.StepCompleted,
			Turns: []runstore.Turn{{Turn: 1, Text: "item answer"}}}}},
	}}
	v, err := viewStep(run, "research", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeStepDetail(&b, v)
	out := b.String()
	for _, want := range []string{"step      research (llm)", "user:     Paris and Rome?", "tools:    lookup", "turn 1", "said:     Looking.",
		`→ lookup {"city":"Paris"}`, "97ms: 2100000", "failed after 0ms: " + failed, "answer:   4.9 million", "output    4.9 million",
		"attempt 1 failed: turn 2: HTTP 503", "tokens    30 in"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	v, err = viewStep(run, "each", &one)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	writeStepDetail(&b, v)
	if !strings.Contains(b.String(), "step      each[1] (llm)") || !strings.Contains(b.String(), "answer:   item answer") {
		t.Errorf("item view:\n%s", b.String())
	}
	for _, bad := range []struct {
		step string
		item *int
		want string
	}{{"nope", nil, `no step "nope"; its steps are research, each`}, {"each", ptrTo(7), "step each has no item 7"}} {
		_, err := viewStep(run, bad.step, bad.item)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("viewStep(%s) = %v, want a usage error with %q", bad.step, err, bad.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
