package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// proseServer is a fake OpenAI server whose model answers prose where JSON
// was asked for, 13 tokens in and 14 out each time.
func proseServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Sure! Here is the JSON you asked for."},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":13,"completion_tokens":14,"total_tokens":27}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// runFlow runs the flow src once against srv, with the key in the
// environment and the local registry as the test left it.
func runFlow(t *testing.T, srv *httptest.Server, src string) (*engine.Engine, *engine.Run) {
	t.Helper()
	eng, opts := spendEngine(t, srv, src)
	run, err := eng.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng, run
}

// spendEngine is an engine whose OpenAI is srv, and the options starting
// the flow src on it.
func spendEngine(t *testing.T, srv *httptest.Server, src string) (*engine.Engine, engine.StartOptions) {
	t.Helper()
	return engineWith(t, map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "sk-env-key-123456"}, src)
}

// engineWith is an engine whose providers read env, and the options
// starting the flow src on it.
func engineWith(t *testing.T, env map[string]string, src string) (*engine.Engine, engine.StartOptions) {
	t.Helper()
	opts := providers.Options{Getenv: func(k string) string { return env[k] }, Sleep: func(context.Context, time.Duration) error { return nil }}
	eng := engine.New(engine.Config{Store: filestore.New(t.TempDir()), Models: providers.Source{Options: opts}})
	f, err := flowspec.Parse("flow.yaml", []byte(src), flowspec.Options{CheckModel: providers.CheckModel})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.BindInputs(nil)
	return eng, engine.StartOptions{Flow: f, Inputs: in}
}

// Every request that reached the provider counts, failed attempts too: an
// `output: json` step whose model answers prose three times records three
// calls' usage and cost, each attempt on its own, and so does the run.
func TestFailedAttemptsAreCounted(t *testing.T) {
	srv, n := proseServer(t)
	eng, run := runFlow(t, srv, spendFlow(3))
	if run.Status != engine.RunFailed {
		t.Fatalf("run is %s, want failed", run.Status)
	}
	if got := n.Load(); got != 9 {
		t.Fatalf("server saw %d requests, want 9", got)
	}
	// gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
	perCall := (13*0.15 + 14*0.60) / 1e6
	stored, err := eng.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*engine.Run{run, stored} {
		extract := stepOfRun(t, r, "extract")
		wantSpend(t, "extract", extract.Usage, extract.CostUSD, 3, perCall)
		if extract.Model != "openai/gpt-4o-mini" {
			t.Errorf("the failed step records model %q", extract.Model)
		}
		wantAttempts(t, "extract", extract.AttemptsDetail, perCall)
		each := stepOfRun(t, r, "each")
		wantSpend(t, "each", each.Usage, each.CostUSD, 6, perCall)
		for _, it := range each.Items {
			wantSpend(t, "an item", it.Usage, it.CostUSD, 3, perCall)
			wantAttempts(t, "an item", it.AttemptsDetail, perCall)
		}
		if r.Usage != (providers.Usage{InputTokens: 9 * 13, OutputTokens: 9 * 14}) || math.Abs(r.CostUSD-9*perCall) > 1e-12 {
			t.Errorf("run totals: usage %+v cost %v, want 117/126 and %v", r.Usage, r.CostUSD, 9*perCall)
		}
	}
}

// spendFlow asks for JSON in one step and in each of two foreach items,
// each given attempts tries.
func spendFlow(attempts int) string {
	return fmt.Sprintf(`name: spend
steps:
  extract:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Give me JSON
    output: json
    retry: {attempts: %d, backoff: 10ms}
  each:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: ${{ [1, 2] }}
    prompt: Give me JSON for ${{ item }}
    output: json
    retry: {attempts: %d, backoff: 10ms}
`, attempts, attempts)
}

func wantSpend(t *testing.T, what string, u providers.Usage, cost *float64, calls int, perCall float64) {
	t.Helper()
	if u != (providers.Usage{InputTokens: calls * 13, OutputTokens: calls * 14}) {
		t.Errorf("%s: usage %+v, want %d calls of 13 in / 14 out", what, u, calls)
	}
	if cost == nil || math.Abs(*cost-float64(calls)*perCall) > 1e-12 {
		t.Errorf("%s: cost %v, want %v", what, cost, float64(calls)*perCall)
	}
}

func wantAttempts(t *testing.T, what string, tries []engine.Attempt, perCall float64) {
	t.Helper()
	if len(tries) != 3 {
		t.Fatalf("%s: %d attempts recorded, want 3: %+v", what, len(tries), tries)
	}
	for i, a := range tries {
		if a.Attempt != i+1 || a.Error == nil || !strings.Contains(*a.Error, "not JSON") ||
			a.Usage != (providers.Usage{InputTokens: 13, OutputTokens: 14}) || a.CostUSD == nil || math.Abs(*a.CostUSD-perCall) > 1e-12 {
			b, _ := json.Marshal(a)
			t.Errorf("%s: attempt %d recorded %s", what, i+1, b)
		}
	}
}

func stepOfRun(t *testing.T, r *engine.Run, id string) engine.StepResult {
	t.Helper()
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run has no step %s", id)
	return engine.StepResult{}
}

// A step with a timeout whose provider asks to wait an hour fails at once,
// saying so, instead of sleeping into "timed out after 10s".
func TestStepTimeoutBeatsRetryAfter(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"Rate limit reached for requests"}}`)
	}))
	t.Cleanup(srv.Close)
	start := time.Now()
	_, run := runFlow(t, srv, `name: limited
steps:
  ask:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: hello
    timeout: 10s
`)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the run took %s; the step should fail at once", took)
	}
	ask := stepOfRun(t, run, "ask")
	if ask.Status != engine.StepFailed || ask.Error == nil {
		t.Fatalf("step is %s", ask.Status)
	}
	for _, w := range []string{"HTTP 429", "Rate limit reached", "(Retry-After: 3600)", "the step has left"} {
		if !strings.Contains(*ask.Error, w) {
			t.Errorf("error %q lacks %q", *ask.Error, w)
		}
	}
	if strings.Contains(*ask.Error, "timed out") {
		t.Errorf("the step slept into its timeout: %s", *ask.Error)
	}
	if n.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", n.Load())
	}
}

// `kitaru retry` runs failed steps again in the same run: what their
// earlier goes spent stays counted in the step, its attempts numbered on,
// and in the run's totals; a retry that succeeds adds its own call.
func TestRetriedRunKeepsEarlierSpend(t *testing.T) {
	var n atomic.Int64
	var good atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		content := "Sure! Here is the JSON you asked for."
		if good.Load() {
			content = `{\"ok\": true}`
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":"`+content+`"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":13,"completion_tokens":14,"total_tokens":27}}`)
	}))
	t.Cleanup(srv.Close)
	eng, run := runFlow(t, srv, spendFlow(2))
	if run.Status != engine.RunFailed || n.Load() != 6 {
		t.Fatalf("first go: run %s after %d requests, want failed after 6", run.Status, n.Load())
	}
	perCall := (13*0.15 + 14*0.60) / 1e6
	ctx := context.Background()
	again, err := eng.Retry(ctx, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != engine.RunFailed || n.Load() != 12 {
		t.Fatalf("retry: run %s after %d requests, want failed after 12", again.Status, n.Load())
	}
	extract := stepOfRun(t, again, "extract")
	wantSpend(t, "extract after a retry", extract.Usage, extract.CostUSD, 4, perCall)
	if extract.Attempts != 4 || len(extract.AttemptsDetail) != 4 {
		t.Fatalf("extract after a retry: %d attempts, %d listed; want 4 and 4", extract.Attempts, len(extract.AttemptsDetail))
	}
	for i, a := range extract.AttemptsDetail {
		if a.Attempt != i+1 || a.Error == nil {
			t.Errorf("attempt %d of extract listed as %+v", i+1, a)
		}
	}
	for _, it := range stepOfRun(t, again, "each").Items {
		wantSpend(t, "an item after a retry", it.Usage, it.CostUSD, 4, perCall)
	}
	if again.Usage.InputTokens != 12*13 {
		t.Errorf("run totals after a retry: %+v, want 12 calls", again.Usage)
	}

	good.Store(true)
	done, err := eng.Retry(ctx, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != engine.RunCompleted || n.Load() != 15 {
		t.Fatalf("last retry: run %s after %d requests, want completed after 15", done.Status, n.Load())
	}
	stored, err := eng.Get(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if meta, err := eng.Store().LoadMeta(context.Background(), run.ID); err != nil || len(meta.Earlier) != 0 {
		t.Errorf("the completed run's meta still keeps earlier spend %v (%v)", meta.Earlier, err)
	}
	for _, r := range []*engine.Run{done, stored} {
		extract := stepOfRun(t, r, "extract")
		wantSpend(t, "extract", extract.Usage, extract.CostUSD, 5, perCall)
		if extract.Attempts != 5 || len(extract.AttemptsDetail) != 5 || extract.AttemptsDetail[4].Error != nil {
			t.Errorf("extract: %d attempts, listed %+v; want 5, the last without error", extract.Attempts, extract.AttemptsDetail)
		}
		for _, it := range stepOfRun(t, r, "each").Items {
			wantSpend(t, "an item", it.Usage, it.CostUSD, 5, perCall)
		}
		if r.Usage.InputTokens != 15*13 || math.Abs(r.CostUSD-15*perCall) > 1e-12 {
			t.Errorf("run totals: %+v %v, want 15 calls", r.Usage, r.CostUSD)
		}
	}
}

// A run stopped (Ctrl-C, SIGTERM) after failed attempts keeps what they
// spent: resume's record counts every request that reached the provider,
// the earlier go's attempts numbered first. The request the stop cut short
// has no answer, so nothing of it is known to count.
func TestStoppedRunKeepsEarlierSpend(t *testing.T) {
	for _, tc := range []struct{ name, step, src string }{
		{"step", "extract", `name: stopped
steps:
  extract:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Give me JSON
    output: json
    retry: {attempts: 3, backoff: 10ms}
`},
		{"foreach item", "each", `name: stopped
steps:
  each:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: ${{ [1] }}
    prompt: Give me JSON for ${{ item }}
    output: json
    retry: {attempts: 3, backoff: 10ms}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			var n atomic.Int64
			var good atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				content := "Sure! Here is the JSON you asked for."
				if good.Load() {
					content = `{\"ok\": true}`
				} else if n.Add(1) == 3 {
					// The third attempt is under way when the run is stopped.
					stop()
					<-r.Context().Done()
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":"`+content+`"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":13,"completion_tokens":14,"total_tokens":27}}`)
			}))
			t.Cleanup(srv.Close)
			eng, opts := spendEngine(t, srv, tc.src)
			run, err := eng.Start(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != engine.RunInterrupted || n.Load() != 3 {
				t.Fatalf("first go: run %s after %d requests, want interrupted after 3", run.Status, n.Load())
			}
			// The interrupted run's totals count them already.
			stored, err := eng.Get(context.Background(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []*engine.Run{run, stored} {
				if r.Usage.InputTokens != 2*13 {
					t.Errorf("the interrupted run's totals: %+v, want the 2 failed calls", r.Usage)
				}
			}
			good.Store(true)
			done, err := eng.Resume(context.Background(), run.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if done.Status != engine.RunCompleted {
				t.Fatalf("resume: run %s", done.Status)
			}
			perCall := (13*0.15 + 14*0.60) / 1e6
			s := stepOfRun(t, done, tc.step)
			attempts, usage, cost, tries := s.Attempts, s.Usage, s.CostUSD, s.AttemptsDetail
			if len(s.Items) == 1 {
				it := s.Items[0]
				attempts, usage, cost, tries = it.Attempts, it.Usage, it.CostUSD, it.AttemptsDetail
			}
			wantSpend(t, tc.step, usage, cost, 3, perCall)
			if attempts != 3 || len(tries) != 3 || tries[0].Error == nil || tries[1].Error == nil || tries[2].Error != nil || tries[2].Attempt != 3 {
				t.Errorf("%s: %d attempts, listed %+v; want the 2 failed ones of the stopped go, then the one that succeeded", tc.step, attempts, tries)
			}
			if done.Usage.InputTokens != 3*13 {
				t.Errorf("run totals: %+v, want 3 calls", done.Usage)
			}
			if meta, err := eng.Store().LoadMeta(context.Background(), run.ID); err != nil || len(meta.Earlier) != 0 {
				t.Errorf("the completed run's meta still keeps earlier spend %v (%v)", meta.Earlier, err)
			}
		})
	}
}
