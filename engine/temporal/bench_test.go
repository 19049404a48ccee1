package temporal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/pgtest"
	"github.com/kitaruhq/kitaru/internal/temporaltest"
	"github.com/kitaruhq/kitaru/providers"
)

// slowModels answer every call after 250 ms, as a model would.
type slowModels struct{}

func (slowModels) Current() (providers.Registry, error)       { return providers.Registry{}, nil }
func (slowModels) Caller(providers.Registry) providers.Caller { return slowCaller{} }

type slowCaller struct{}

func (slowCaller) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(250 * time.Millisecond):
	}
	return &providers.Response{Text: "ok", Model: "fake/slow"}, nil
}

// BenchmarkSixtyFourCallsOnTemporal runs a foreach of 64 llm calls of
// 250 ms on a real Temporal server with two workers of 8 activity slots
// each, over one PostgreSQL store: ideally 1.0 s. x-ideal is the time
// against that; the same flow run locally with --parallel 16 over the same
// store is BenchmarkSixtyFourCallsLocal.
func BenchmarkSixtyFourCallsOnTemporal(b *testing.B) {
	eng, f := benchSetup(b)
	srv := temporaltest.Start(b)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		w := worker.New(c, "bench", WorkerOptions(8))
		Register(w, &Activities{Engine: eng})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
	}
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		sp, err := eng.CreateDriven(ctx, engine.StartOptions{Flow: f, Inputs: map[string]any{}, Parallel: 16}, runstore.TemporalRef{Namespace: srv.Namespace, TaskQueue: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		wf, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: sp.Run, TaskQueue: "bench"}, WorkflowName, Input{Spec: *sp})
		if err != nil {
			b.Fatal(err)
		}
		var res Result
		if err := wf.Get(ctx, &res); err != nil || res.Status != runstore.RunCompleted {
			b.Fatalf("%+v %v", res, err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()/float64(b.N)/1.0, "x-ideal")
}

func BenchmarkSixtyFourCallsLocal(b *testing.B) {
	eng, f := benchSetup(b)
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		run, err := eng.Start(ctx, engine.StartOptions{Flow: f, Inputs: map[string]any{}, Parallel: 16})
		if err != nil || run.Status != runstore.RunCompleted {
			b.Fatalf("%v %v", run, err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()/float64(b.N)/1.0, "x-ideal")
}

func benchSetup(b *testing.B) (*engine.Engine, *flowspec.Flow) {
	pg := pgtest.Start(b)
	st, err := pgstore.Open(context.Background(), pg.DatabaseURL(b, "bench"), pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	wd, _ := os.Getwd()
	eng := engine.New(engine.Config{Store: st, WorkDir: wd, Models: slowModels{}})
	items := make([]string, 64)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	src := "name: calls\nsteps:\n  fan: {kind: llm, model: fake/slow, foreach: '${{ [" + strings.Join(items, ", ") + "] }}', prompt: 'say ${{ item }}'}\n"
	f, err := flowspec.Parse("calls.yaml", []byte(src), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return eng, f
}
