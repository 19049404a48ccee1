package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// instantModels answer every call at once, and say where calls go, so
// answers can be cached.
type instantModels struct{}

func (instantModels) Current() (providers.Registry, error)       { return providers.Registry{}, nil }
func (instantModels) Caller(providers.Registry) providers.Caller { return instantCaller{} }

type instantCaller struct{}

func (instantCaller) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	zero := 0.0
	return &providers.Response{Text: "answer to " + req.Messages[len(req.Messages)-1].Content, Model: req.Model,
		Usage: providers.Usage{InputTokens: 10, OutputTokens: 5}, CostUSD: &zero}, nil
}

func (instantCaller) Target(req providers.Request) (providers.Target, bool) {
	return providers.Target{Model: req.Model, BaseURL: "http://instant"}, true
}

// cachedFlow is n independent llm steps with cache: true and a last
// checkpoint step that needs them all.
func cachedFlow(b *testing.B, n int) *flowspec.Flow {
	var sb strings.Builder
	sb.WriteString("name: cached\ndefaults: {cache: true, model: openai/gpt-4o-mini}\nsteps:\n")
	needs := make([]string, n)
	for i := range n {
		fmt.Fprintf(&sb, "  s%d: {kind: llm, prompt: question %d}\n", i, i)
		needs[i] = fmt.Sprintf("s%d", i)
	}
	fmt.Fprintf(&sb, "  last: {kind: checkpoint, needs: [%s], value: done}\n", strings.Join(needs, ", "))
	f, err := flowspec.Parse("cached.yaml", []byte(sb.String()), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkCachedVsReusedStep measures, in one benchmark, a run of 200
// cached llm steps (every answer from the cache) against a replay --from
// the step after them (all 200 reused), and a run calling an instant
// model without the cache: ns per cached, reused and called step, and
// the ratio cached/reused (the goal: ≤ 1).
func BenchmarkCachedVsReusedStep(b *testing.B) {
	const n = 200
	f := cachedFlow(b, n)
	e := New(Config{Store: filestore.New(b.TempDir()), Models: instantModels{}, Parallel: 8})
	ctx := context.Background()
	src := mustRun(b, e, f) // fills the cache
	var cached, reused, called time.Duration
	for b.Loop() {
		t0 := time.Now()
		run := mustRun(b, e, f)
		cached += time.Since(t0)
		if w := run.Steps[0].Why; w == nil || w.Code != "cached" {
			b.Fatalf("step s0 was not cached: %+v", w)
		}
		t0 = time.Now()
		rp, err := e.Replay(ctx, ReplayOptions{Source: src.ID, From: "last", Flow: f})
		reused += time.Since(t0)
		if err != nil || rp.Status != RunCompleted {
			b.Fatalf("replay: %v %v", err, rp)
		}
		t0 = time.Now()
		if _, err := e.Start(ctx, StartOptions{Flow: f, Inputs: map[string]any{}, NoCache: true}); err != nil {
			b.Fatal(err)
		}
		called += time.Since(t0)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(cached), "ns/cached-step")
	b.ReportMetric(per(reused), "ns/reused-step")
	b.ReportMetric(per(called), "ns/called-step")
	b.ReportMetric(per(cached)/per(reused), "cached/reused")
	b.ReportMetric(per(cached)/per(called), "cached/called")
}
