package providers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// fixedServer answers every request with status and body, counting them.
func fixedServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const (
	openAIHello = `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini",
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello from openai"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
	anthropicHello = `{"id":"m1","type":"message","role":"assistant","model":"claude-haiku-4-5",
		"content":[{"type":"text","text":"hello from anthropic"}],
		"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":5}}`
)

const fallbackFlow = `name: fallback
steps:
  ask:
    kind: llm
    model: [openai/gpt-4o-mini, anthropic/claude-haiku-4-5]
    prompt: Say hello
`

// A model list falls back, through the real clients, when its first
// provider gives no answer after its own HTTP retries: the record says
// which model answered and lists the one that failed, with its error.
func TestModelListFallsBack(t *testing.T) {
	t.Parallel()
	const unavailable = `{"error":{"message":"overloaded","type":"server_error"}}`
	cases := []struct {
		name       string
		status     int    // the first provider's
		wantTries  int64  // requests it saw (4: its HTTP retries)
		wantInErr  string // in the failed try's error
		bothFail   bool   // the second provider fails too
		wantStatus engine.RunStatus
	}{
		{name: "503", status: 503, wantTries: 4, wantInErr: "HTTP 503", wantStatus: engine.RunCompleted},
		{name: "429", status: 429, wantTries: 4, wantInErr: "HTTP 429", wantStatus: engine.RunCompleted},
		{name: "bad key", status: 401, wantTries: 1, wantInErr: "check the API key", wantStatus: engine.RunCompleted},
		{name: "both fail", status: 503, wantTries: 4, wantInErr: "HTTP 503", bothFail: true, wantStatus: engine.RunFailed},
		{name: "first answers", status: 200, wantTries: 1, wantStatus: engine.RunCompleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			body := unavailable
			if c.status == 200 {
				body = openAIHello
			}
			first, firstN := fixedServer(t, c.status, body)
			second, secondN := fixedServer(t, 200, anthropicHello)
			if c.bothFail {
				second, secondN = fixedServer(t, 503, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
			}
			eng, opts := engineWith(t, map[string]string{
				"OPENAI_BASE_URL": first.URL, "OPENAI_API_KEY": "sk-openai-key-123456",
				"ANTHROPIC_BASE_URL": second.URL, "ANTHROPIC_API_KEY": "sk-ant-key-123456",
			}, fallbackFlow)
			run, err := eng.Start(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != c.wantStatus {
				t.Fatalf("run %s, want %s: %v", run.Status, c.wantStatus, stepErrors(run))
			}
			if got := firstN.Load(); got != c.wantTries {
				t.Errorf("the first provider saw %d requests, want %d", got, c.wantTries)
			}
			stored, err := eng.Get(context.Background(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			ask := stepOfRun(t, stored, "ask")
			if c.status == 200 {
				if secondN.Load() != 0 || ask.Model != "openai/gpt-4o-mini" || ask.Turns != nil {
					t.Errorf("the first model answered, yet: second saw %d, model %q, turns %+v", secondN.Load(), ask.Model, ask.Turns)
				}
				return
			}
			if len(ask.Turns) != 1 {
				t.Fatalf("turns %+v, want the one call", ask.Turns)
			}
			turn := ask.Turns[0]
			wantFailed := 1
			if c.bothFail {
				wantFailed = 2
			}
			if len(turn.FailedModels) != wantFailed || turn.FailedModels[0].Model != "openai/gpt-4o-mini" ||
				!strings.Contains(turn.FailedModels[0].Error, c.wantInErr) {
				t.Fatalf("failed models %+v, want openai/gpt-4o-mini first, its error holding %q", turn.FailedModels, c.wantInErr)
			}
			if c.bothFail {
				if ask.Error == nil || !strings.Contains(*ask.Error, "none of the 2 models answered") || turn.Model != "" {
					t.Errorf("error %v, turn model %q", ask.Error, turn.Model)
				}
				return
			}
			if secondN.Load() != 1 {
				t.Errorf("the second provider saw %d requests, want 1", secondN.Load())
			}
			if ask.Model != "anthropic/claude-haiku-4-5" || turn.Model != ask.Model || ask.Output != "hello from anthropic" {
				t.Errorf("step model %q, turn model %q, output %v: want the second model's answer", ask.Model, turn.Model, ask.Output)
			}
			// Only the answer was paid for: anthropicHello's 12 in, 5 out.
			if ask.Usage.InputTokens != 12 || ask.Usage.OutputTokens != 5 || stored.Usage != ask.Usage {
				t.Errorf("usage step %+v run %+v, want 12/5", ask.Usage, stored.Usage)
			}
		})
	}
}
