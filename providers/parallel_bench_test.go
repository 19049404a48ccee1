package providers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// BenchmarkParallelCalls is a foreach of 64 model calls that each take
// 250 ms, 16 at a time, through the real caller and the file store: the
// ideal is 4 rounds, 1 s. It reports x-of-ideal (the ideal time over the
// time taken; issue 11's goal is ≥ 0.97) and the connections opened (at
// most one per call in flight: 16).
func BenchmarkParallelCalls(b *testing.B) {
	const calls, parallel, latency = 64, 16, 250 * time.Millisecond
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(slowModel(latency))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	b.Cleanup(srv.Close)
	b.Setenv("XDG_CONFIG_HOME", b.TempDir())
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-bench"}
	opts := providers.Options{Getenv: func(k string) string { return env[k] }}
	took := runFan(b, engine.New(engine.Config{Store: benchStore(b), Models: providers.Source{Options: opts}}), parallel)
	ideal := time.Duration(calls/parallel) * latency * time.Duration(b.N)
	b.ReportMetric(float64(ideal)/float64(took), "x-of-ideal")
	b.ReportMetric(float64(opened.Load()), "connections")
}

// BenchmarkParallelCallsBare is BenchmarkParallelCalls without the engine:
// the same 64 calls through the caller, 16 goroutines at a time.
func BenchmarkParallelCallsBare(b *testing.B) {
	const calls, parallel, latency = 64, 16, 250 * time.Millisecond
	srv := httptest.NewServer(slowModel(latency))
	b.Cleanup(srv.Close)
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-bench"}
	c := providers.New(providers.Registry{}, providers.Options{Getenv: func(k string) string { return env[k] }})
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		sem := make(chan struct{}, parallel)
		done := make(chan struct{}, calls)
		for range calls {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; done <- struct{}{} }()
				if _, err := c.Call(context.Background(), providers.Request{Model: "openai/gpt-4o-mini", Messages: []providers.Message{{Role: "user", Content: "x"}}}); err != nil {
					b.Error(err)
				}
			}()
		}
		for range calls {
			<-done
		}
		took += time.Since(start)
	}
	ideal := time.Duration(calls/parallel) * latency * time.Duration(b.N)
	b.ReportMetric(float64(ideal)/float64(took), "x-of-ideal")
}

// runFan runs a foreach of 64 model calls b.N times, parallel at a time,
// and returns the time it took.
func runFan(b *testing.B, eng *engine.Engine, parallel int) time.Duration {
	f, err := flowspec.Parse("fan.yaml", []byte(`
name: fan
steps:
  ask:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: ${{ 1..64 }}
    prompt: item ${{ item }}
`), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	in, _ := f.BindInputs(nil)
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		run, err := eng.Start(context.Background(), engine.StartOptions{Flow: f, Inputs: in, Parallel: parallel})
		took += time.Since(start)
		if err != nil || run.Status != engine.RunCompleted {
			b.Fatalf("run: %v %v", err, run)
		}
		if run.Steps[0].Items[0].Output == nil {
			b.Fatalf("no answer recorded: %+v", run.Steps[0].Items[0])
		}
	}
	return took
}

// benchStore is the file store, or with KITARU_BENCH_MEMSTORE=1 the
// in-memory one (to tell the store's part from the engine's).
func benchStore(b *testing.B) runstore.Store {
	if os.Getenv("KITARU_BENCH_MEMSTORE") != "" {
		return memstore.New()
	}
	return filestore.New(b.TempDir())
}

// slowModel answers chat completions after latency.
func slowModel(latency time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(latency)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`)
	})
}

// BenchmarkParallelCallsStreamed is BenchmarkParallelCalls with every call
// streamed: the engine asks for a stream, the server sends its answer in
// 50 pieces over the 250 ms, and every piece becomes an ephemeral event
// and a subscriber that never reads holds nothing up. Its goal is the
// same ≥ 0.97 of ideal.
func BenchmarkParallelCallsStreamed(b *testing.B) {
	const calls, parallel, latency = 64, 16, 250 * time.Millisecond
	srv := httptest.NewServer(streamingModel(latency, 50))
	b.Cleanup(srv.Close)
	b.Setenv("XDG_CONFIG_HOME", b.TempDir())
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-bench"}
	opts := providers.Options{Getenv: func(k string) string { return env[k] }}
	eng := engine.New(engine.Config{Store: benchStore(b), Models: providers.Source{Options: opts}})
	stuck := eng.Subscribe("", 1)
	defer stuck.Close()
	took := runFan(b, eng, parallel)
	if stuck.Dropped() == 0 {
		b.Fatal("a subscriber that never reads dropped nothing")
	}
	ideal := time.Duration(calls/parallel) * latency * time.Duration(b.N)
	b.ReportMetric(float64(ideal)/float64(took), "x-of-ideal")
}

// streamingModel answers chat completions as a stream of pieces, spread
// over latency (the first one at once), then the usage.
func streamingModel(latency time.Duration, pieces int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		start := time.Now()
		for i := range pieces {
			// On a schedule from the start: sleeps that overshoot do not add up.
			time.Sleep(time.Until(start.Add(latency * time.Duration(i) / time.Duration(pieces))))
			text := "word "
			if i%10 == 9 {
				text = "word\n"
			}
			_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"`+strings.ReplaceAll(text, "\n", `\n`)+`"},"finish_reason":null}]}`+"\n\n")
			fl.Flush()
		}
		time.Sleep(time.Until(start.Add(latency)))
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":50,"total_tokens":60}}`+"\n\ndata: [DONE]\n\n")
	})
}
