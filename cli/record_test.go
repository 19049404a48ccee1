package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

func fp(f float64) *float64 { return &f }

// sampleReplay is a replay record with one step of every interesting sort.
func sampleReplay() *engine.Run {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	end := t0.Add(3200 * time.Millisecond)
	return &engine.Run{
		ID: "kr-new", Flow: "research_agent", Status: engine.RunWaiting, ReplayOf: strp("kr-old"),
		ReplayFrom: "draft", Overrides: map[string]any{"outline": "edited"},
		Inputs: map[string]any{"topic": "agents", "words": 120},
		Usage:  providers.Usage{InputTokens: 350, OutputTokens: 120}, CostUSD: 0.00042,
		StartedAt: t0, EndedAt: &end, Dir: "/state/runs/kr-new",
		Steps: []engine.StepResult{
			{ID: "outline", Kind: "llm", Status: engine.StepCompleted, Reused: true, Why: &engine.Reason{Code: runstore.ReasonOverridden}, Dir: "/state/runs/kr-new/steps/outline"},
			// What changed in a step --from reused is told below the
			// table, not in its NOTE.
			{ID: "research", Kind: "llm", Status: engine.StepCompleted, Reused: true, ReusedFrom: "kr-old",
				Why: &engine.Reason{Code: runstore.ReasonNotDownstream, Run: "kr-old", From: "draft", Though: &engine.Reason{Code: runstore.ReasonModelChanged,
					Model: &engine.ModelChange{Was: "openai/gpt-4o-mini", Now: "anthropic/claude-sonnet-4-5", WasAlias: "fast", NowAlias: "fast"}}}},
			{ID: "draft", Kind: "llm", Status: engine.StepCompleted, Attempts: 2, DurationMS: 1234, Model: "openai/gpt-4o-mini", Alias: "fast",
				Usage: providers.Usage{InputTokens: 350, OutputTokens: 120}, CostUSD: fp(0.00042), Why: &engine.Reason{Code: runstore.ReasonFrom, From: "draft"}, Dir: "/state/runs/kr-new/steps/draft"},
			// An older kitaru's record: its sentence, as written.
			{ID: "fan", Kind: "checkpoint", Status: engine.StepFailed, Attempts: 3, DurationMS: 65000, Error: strp("exit status 1:\nno such file"),
				Reason: "downstream of --from draft",
				Items:  []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepFailed}}},
			// It asked twice more for an answer that follows its schema.
			{ID: "extract", Kind: "llm", Status: engine.StepCompleted, Attempts: 1, DurationMS: 2100, Model: "openai/gpt-4o-mini",
				Usage: providers.Usage{InputTokens: 300, OutputTokens: 60}, CostUSD: fp(0.00009), Turns: []engine.Turn{
					{Turn: 1, Error: strp(`is not JSON (invalid character 'A' looking for beginning of value): "Ada, 1843"`), DurationMS: 700,
						Usage: providers.Usage{InputTokens: 100, OutputTokens: 20}, CostUSD: fp(0.00003)},
					{Turn: 2, Error: strp("breaks the schema at /year: got string, want integer"), Pointer: strp("/year"), DurationMS: 650,
						Usage: providers.Usage{InputTokens: 100, OutputTokens: 20}, CostUSD: fp(0.00003)},
					{Turn: 3, DurationMS: 750, Usage: providers.Usage{InputTokens: 100, OutputTokens: 20}, CostUSD: fp(0.00003)}}},
			{ID: "approve", Kind: "wait", Status: engine.StepWaiting, Wait: &engine.WaitInfo{Question: "Ship it?", Schema: map[string]any{"type": "boolean"}}},
			{ID: "later", Kind: "checkpoint", Status: engine.StepPending},
		},
	}
}

func TestRecordTextGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()

	var b bytes.Buffer
	if err := writeRunDetail(&b, sampleReplay()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/get.txt.golden", b.String())

	b.Reset()
	running := &engine.Run{ID: "kr-run", Flow: "f", Status: engine.RunRunning, StartedAt: sampleReplay().StartedAt}
	if err := writeRunList(&b, []*engine.Run{sampleReplay(), running}, nil, listMore{}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/list.txt.golden", b.String())

	b.Reset()
	writeRunList(&b, nil, nil, listMore{})
	checkGolden(t, "cli/list_empty.txt.golden", b.String())

	b.Reset()
	writeRunList(&b, []*engine.Run{running}, nil, listMore{Total: 40})
	checkGolden(t, "cli/list_more.txt.golden", b.String())

	b.Reset()
	writeRunList(&b, nil, nil, listMore{Flow: "nosuch", AllRuns: 3, AllFlows: []string{"fan_out", "research"}})
	checkGolden(t, "cli/list_empty_flow.txt.golden", b.String())

	b.Reset()
	writeRunList(&b, nil, nil, listMore{Flow: "research", Status: "failed", AllRuns: 1, AllFlows: []string{"research"}})
	checkGolden(t, "cli/list_empty_filtered.txt.golden", b.String())

	b.Reset()
	damaged := engine.DamagedRuns{{RunID: "kr-bad", Part: runstore.PartMeta, Where: "/home/u/.local/share/kitaru/runs/kr-bad/run.json",
		Home: "/home/u/.local/share/kitaru/runs/kr-bad", Problem: "is damaged (unexpected end of JSON input)"}}
	if err := writeRunList(&b, []*engine.Run{running}, damaged, listMore{}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/list_damaged.txt.golden", b.String())
}

// TestRecordInterruptedGolden: a run that sat interrupted for hours between
// its goes; a foreach step stopped at 2 of its 10 items; the models of
// foreach and failed llm steps.
func TestRecordInterruptedGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	end := t0.Add(3*time.Hour + 12*time.Minute)
	item := func(i int, st engine.StepStatus, model string) engine.ItemResult {
		return engine.ItemResult{Index: i, Status: st, Attempts: 1, Model: model, Alias: "fast"}
	}
	run := &engine.Run{ID: "kr-int", Flow: "digest", Status: engine.RunInterrupted, StartedAt: t0, EndedAt: &end, ActiveMS: 2100,
		Steps: []engine.StepResult{
			{ID: "summaries", Kind: "llm", Status: engine.StepCompleted, Attempts: 1, DurationMS: 900,
				Items: []engine.ItemResult{item(0, engine.StepCompleted, "openai/gpt-4o-mini"), item(1, engine.StepCompleted, "openai/gpt-4o-mini")}},
			{ID: "fallbacks", Kind: "llm", Status: engine.StepCompleted, Attempts: 1, DurationMS: 700,
				Items: []engine.ItemResult{item(0, engine.StepCompleted, "openai/gpt-4o-mini"), item(1, engine.StepCompleted, "anthropic/claude-haiku-4-5")}},
			{ID: "title", Kind: "llm", Status: engine.StepFailed, Attempts: 1, DurationMS: 300, Model: "openai/gpt-4o-mini", Alias: "fast",
				Error: strp("openai: 401 Unauthorized")},
			{ID: "pages", Kind: "checkpoint", Status: engine.StepPending, ItemCount: 10,
				Items: []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepCompleted}}},
		}}
	var b bytes.Buffer
	if err := writeRunDetail(&b, run); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cli/get_interrupted.txt.golden", b.String())
}

func TestFormatters(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{fmtCost(nil), "-"},
		{fmtCost(fp(0)), "-"},
		{fmtCost(fp(0.00042)), "$0.0004"},
		{fmtCost(fp(0.00002)), "<$0.0001"},
		{fmtCost(fp(1.5)), "$1.50"},
		{fmtTokens(providers.Usage{}), "-"},
		{fmtUsage(providers.Usage{}), "-"},
		{fmtUsage(providers.Usage{InputTokens: 3, OutputTokens: 4}), "3 in, 4 out"},
		{fmtTokens(providers.Usage{InputTokens: 3, OutputTokens: 4}), "7"},
		// Big counts read as the live view writes them.
		{fmtTokens(providers.Usage{InputTokens: 12000, OutputTokens: 345}), "12,345"},
		{fmtUsage(providers.Usage{InputTokens: 12000, OutputTokens: 345}), "12,000 in, 345 out"},
		{fmtMap(map[string]any{"b": []any{1.0}, "a": "x"}), `a="x" b=[1]`},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
