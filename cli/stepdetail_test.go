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
	refused, at := "breaks the schema at /year: got string, want integer", "/year"
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
		// A tool loop with a schema: its first answer broke it, and the
		// first model of its list gave no answer to the last call.
		{ID: "extract", Kind: "llm", Status: runstore.StepCompleted, Attempts: 1, Output: map[string]any{"year": 1843.0}, Turns: []runstore.Turn{
			{Turn: 1, ToolCalls: []runstore.ToolCall{{Name: "lookup", ArgumentsText: `{"city":"Paris"}`, Output: "1843"}}},
			{Turn: 2, Text: `{"year": "1843"}`, Error: &refused, Pointer: &at},
			{Turn: 3, Text: `{"year": 1843}`, Model: "anthropic/claude-haiku-4-5",
				FailedModels: []runstore.ModelTry{{Model: "fast", Error: "HTTP 503", DurationMS: 1200}}}}},
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
	v, err = viewStep(run, "extract", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	writeStepDetail(&b, v)
	out = b.String()
	for _, want := range []string{`→ lookup {"city":"Paris"}`, `answer:   {"year": "1843"}`, "refused:  its answer " + refused,
		"turn 3", "anthropic/claude-haiku-4-5", "no answer: fast after 1.2s: HTTP 503", `output    {"year":1843}`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "refused:") != 1 {
		t.Errorf("only the answer that broke the schema was refused:\n%s", out)
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
	}{{"nope", nil, `no step "nope"; its steps are research, extract, each`}, {"each", ptrTo(7), "step each has no item 7"},
		{"each[1]", nil, "--step takes a step id, and the item goes in --item: kitaru executions get kr-x --step each --item 1"},
		{"nope[1]", nil, `no step "nope[1]"; its steps are`}} {
		_, err := viewStep(run, bad.step, bad.item)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("viewStep(%s) = %v, want a usage error with %q", bad.step, err, bad.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// executions get lists a tool loop's turns by what each called, the one
// refused for its schema by why, and the answer taken.
func TestTurnsShowToolLoop(t *testing.T) {
	t.Parallel()
	refused, failed := "breaks the schema at /year: got string, want integer", "boom"
	turns := []engine.Turn{
		{Turn: 1, Model: "openai/gpt-4o-mini", Usage: providers.Usage{InputTokens: 10, OutputTokens: 5}, ToolCalls: []runstore.ToolCall{
			{Name: "lookup", Output: "1"}, {Name: "add", Error: &failed}, {Name: "slow", Pending: true}, {Name: "late", NotRun: true}}},
		{Turn: 2, Model: "openai/gpt-4o-mini", Error: &refused},
		{Turn: 3, Model: "openai/gpt-4o-mini"},
	}
	var b strings.Builder
	if err := writeTurns(&b, "research", turns); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, w := range []string{"research made 3 model calls and 3 tool calls in its tool loop:", "called lookup, add (failed), slow (no result: stopped), late (not run: max_turns)",
		"its answer " + refused, "answer taken"} {
		if !strings.Contains(got, w) {
			t.Errorf("%q lacks %q", got, w)
		}
	}
	if strings.Contains(got, "gpt-4o-mini") {
		t.Errorf("the model is named only when a list fell back: %q", got)
	}
	// max_turns: 1, and the model asked for a tool: nothing was run.
	b.Reset()
	if err := writeTurns(&b, "research", []engine.Turn{{Turn: 1, ToolCalls: []runstore.ToolCall{{Name: "lookup", NotRun: true}}}}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "made 1 model call and 0 tool calls in its tool loop") || !strings.Contains(got, "lookup (not run: max_turns)") {
		t.Errorf("a last turn's calls, not run: %q", got)
	}
}

// A step (or item) answered from the cache says where from, as the run's
// view does.
func TestStepDetailCachedGolden(t *testing.T) {
	t.Parallel()
	zero := 0
	cached := &runstore.Reason{Code: runstore.ReasonCached, Run: "kr-old", Step: "summary"}
	run := &engine.Run{ID: "kr-new", Steps: []runstore.StepResult{
		{ID: "summary", Kind: "llm", Status: runstore.StepCompleted, Attempts: 1, Output: "short", Model: "openai/gpt-4o-mini", Why: cached},
		{ID: "each", Kind: "llm", Status: runstore.StepCompleted, Attempts: 1, Items: []runstore.ItemResult{
			{Index: 0, Status: runstore.StepCompleted, Attempts: 1, Output: "a",
				Why: &runstore.Reason{Code: runstore.ReasonCached, Run: "kr-old", Step: "each", Item: &zero}}}},
	}}
	var b bytes.Buffer
	for _, q := range []struct {
		step string
		item *int
	}{{"summary", nil}, {"each", &zero}} {
		v, err := viewStep(run, q.step, q.item)
		if err != nil {
			t.Fatal(err)
		}
		writeStepDetail(&b, v)
		b.WriteString("----\n")
	}
	checkGolden(t, "cli/step_cached.txt.golden", b.String())
}
