package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/fsutil"
	"github.com/kitaruhq/kitaru/providers"
)

// loopModels ask for one tool call a turn until the conversation holds
// turns of them, then answer; at once, so only kitaru's own cost shows.
type loopModels struct{ turns int }

func (m loopModels) Current() (providers.Registry, error)       { return providers.Registry{}, nil }
func (m loopModels) Caller(providers.Registry) providers.Caller { return m }

func (m loopModels) Call(_ context.Context, req providers.Request) (*providers.Response, error) {
	done := 0
	for _, msg := range req.Messages {
		if msg.Role == "tool" {
			done++
		}
	}
	zero := 0.0
	res := &providers.Response{Model: "openai/instant", Usage: providers.Usage{InputTokens: 10, OutputTokens: 5}, CostUSD: &zero}
	if done < m.turns {
		res.ToolCalls = []providers.ToolCall{{ID: fmt.Sprintf("c%d", done), Name: "add", Arguments: `{"a": 1, "b": 2}`}}
	} else {
		res.Text = "done"
	}
	return res, nil
}

// BenchmarkAgentTurn measures what kitaru itself spends on one turn of
// an agent loop: recording the model's turn and running and recording
// its tool call (an expression, so no process), against one atomic
// write measured beside it. A run of a loop of 50 tool turns and a run
// answering at once are timed; their difference over 50 is a turn. The
// goal (issue 12): a turn ≤ 3 atomic writes.
func BenchmarkAgentTurn(b *testing.B) {
	const turns = 50
	src := fmt.Sprintf(`name: loop
tools:
  add:
    description: Add two numbers.
    parameters: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}
    value: ${{ args.a + args.b }}
steps:
  research:
    kind: llm
    model: openai/instant
    prompt: add until done
    tools: [add]
    max_turns: %d
`, turns+1)
	f, err := flowspec.Parse("loop.yaml", []byte(src), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	loop := New(Config{Store: filestore.New(filepath.Join(dir, "loop")), Models: loopModels{turns: turns}})
	once := New(Config{Store: filestore.New(filepath.Join(dir, "once")), Models: loopModels{turns: 0}})
	p := filepath.Join(dir, "atomic.json")
	data := []byte(strings.Repeat("x", 200))
	var inLoop, atOnce, atomic time.Duration
	for b.Loop() {
		t0 := time.Now()
		run := mustRun(b, loop, f)
		inLoop += time.Since(t0)
		if n := len(run.Steps[0].Turns); n != turns+1 {
			b.Fatalf("the loop took %d turns, want %d", n, turns+1)
		}
		t0 = time.Now()
		mustRun(b, once, f)
		atOnce += time.Since(t0)
		t0 = time.Now()
		for range turns {
			if err := fsutil.WriteFileAtomic(p, data); err != nil {
				b.Fatal(err)
			}
		}
		atomic += time.Since(t0)
	}
	turn := float64((inLoop - atOnce).Nanoseconds()) / float64(b.N*turns)
	write := float64(atomic.Nanoseconds()) / float64(b.N*turns)
	b.ReportMetric(turn, "ns/turn")
	b.ReportMetric(write, "ns/atomic-write")
	b.ReportMetric(turn/write, "turn/atomic-write")
}
