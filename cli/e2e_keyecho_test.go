package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A provider that echoes the key it was sent (in its answer, or in an
// error body) must not get the key into anything kitaru prints or keeps.

const echoedKey = "sk-echoed-KEY-4e7b1d9a0c"

// keyEcho speaks OpenAI chat completions and Anthropic messages, and puts
// the credential header it received into its answer or its error.
type keyEcho struct {
	mu   sync.Mutex
	seen []string // the credential header of every request
	fail bool     // answer HTTP 400 with the header in the message
}

func (k *keyEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	anthropic := strings.HasSuffix(r.URL.Path, "/messages")
	header := r.Header.Get("Authorization")
	if anthropic {
		header = r.Header.Get("x-api-key")
	}
	k.mu.Lock()
	k.seen = append(k.seen, header)
	fail := k.fail
	k.mu.Unlock()
	text := "you sent " + header
	w.Header().Set("Content-Type", "application/json")
	var body any
	switch {
	case fail && anthropic:
		w.WriteHeader(http.StatusBadRequest)
		body = map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "message": "refused: " + text}}
	case fail:
		w.WriteHeader(http.StatusBadRequest)
		body = map[string]any{"error": map[string]any{"message": "refused: " + text, "type": "invalid_request_error"}}
	case anthropic:
		body = map[string]any{"id": "m1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0",
			"content": []any{map[string]any{"type": "text", "text": text}}, "stop_reason": "end_turn",
			"usage": map[string]any{"input_tokens": 3, "output_tokens": 4}}
	default:
		body = map[string]any{"id": "c1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": text}}},
			"usage":   map[string]any{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
	}
	json.NewEncoder(w).Encode(body)
}

func TestE2EEchoedProviderKeyIsMasked(t *testing.T) {
	for _, provider := range []struct{ name, model, keyVar, baseVar, base string }{
		{"openai", "openai/gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"},
		{"anthropic", "anthropic/claude-sonnet-4-0", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""},
	} {
		for _, source := range []string{"environment", "secret"} {
			for _, mode := range []string{"answer", "json", "error"} {
				t.Run(provider.name+"/"+source+"/"+mode, func(t *testing.T) {
					e := newE2E(t)
					requireEngine(t, e)
					srv := &keyEcho{fail: mode == "error"}
					ts := httptest.NewServer(srv)
					t.Cleanup(ts.Close)
					e.setenv(provider.baseVar, ts.URL+provider.base)
					e.setenv("KITARU_SECRETS_BACKEND", "file")
					secret := ""
					if source == "secret" {
						e.must(0, "secrets", "set", "creds", "--"+provider.keyVar+"="+echoedKey)
						secret = "creds"
					} else {
						e.setenv(provider.keyVar, echoedKey)
					}
					args := []string{"model", "register", "fast", "--model", provider.model}
					if secret != "" {
						args = append(args, "--secret", secret)
					}
					e.must(0, args...)
					output := ""
					if mode == "json" {
						output = "\n    output: json" // the answer is no JSON: the error quotes it
					}
					flow := e.flow("echo.yaml", "name: echo\nsteps:\n  ask:\n    kind: llm\n    model: fast\n    prompt: hi"+output+
						"\noutput: ${{ steps.ask.output }}\n")

					code := 0
					if mode != "answer" {
						code = 1
					}
					printed := []result{e.must(code, "run", flow), e.must(0, "executions", "get", "last"),
						e.must(0, "executions", "get", "last", "--json"), e.must(0, "executions", "logs", "last")}
					srv.mu.Lock()
					seen := append([]string(nil), srv.seen...)
					srv.mu.Unlock()
					if len(seen) == 0 || !strings.Contains(seen[0], echoedKey) {
						t.Fatalf("the server did not receive the key: %q", seen)
					}
					all := ""
					for _, r := range printed {
						all += r.Stdout + r.Stderr
					}
					if strings.Contains(all, echoedKey) {
						t.Errorf("the key was printed:\n%s", all)
					}
					if !strings.Contains(all, "you sent ***") && !strings.Contains(all, `you sent Bearer ***`) {
						t.Errorf("the echoed answer or error, masked, is not shown:\n%s", all)
					}
					run := decodeRun(t, printed[2].Stdout)
					for _, f := range []string{"run.json", "journal.jsonl", "log.txt", "steps/ask/result.json"} {
						if _, err := os.Stat(filepath.Join(run.Dir, f)); err != nil {
							t.Errorf("the run has no %s: %v", f, err)
						}
					}
					if mode != "error" {
						b, err := os.ReadFile(filepath.Join(run.Dir, "steps", "ask", "response.txt"))
						if err != nil || !strings.Contains(string(b), "you sent") {
							t.Errorf("response.txt: %q, %v", b, err)
						}
					}
					if mode == "answer" && (!stepOf(t, run, "ask").Masked || !strings.Contains(printed[1].Stdout, "secret values masked as ***")) {
						t.Errorf("the step does not record and show that its output was masked:\n%s", printed[1].Stdout)
					}
					assertNotOnDisk(t, e.Home, echoedKey)
				})
			}
		}
	}
}

// A run: command inherits kitaru's environment, provider keys included:
// printing one records and shows it masked, like the keys the calls send.
func TestE2EProviderKeyInheritedByACommandIsMasked(t *testing.T) {
	e := newE2E(t)
	e.setenv("OPENAI_API_KEY", echoedKey)
	flow := e.flow("leak.yaml", "name: leak\nsteps:\n  show:\n    kind: checkpoint\n    run: echo \"key=$OPENAI_API_KEY\"; echo \"err $OPENAI_API_KEY\" >&2\n"+
		"output: ${{ steps.show.output }}\n")
	printed := []result{e.must(0, "run", flow), e.must(0, "executions", "get", "last", "--json"), e.must(0, "executions", "logs", "last")}
	for _, r := range printed {
		if strings.Contains(r.Stdout+r.Stderr, echoedKey) {
			t.Errorf("the key was printed:\n%s", r)
		}
	}
	if !strings.Contains(printed[0].Stdout, "key=***") || !strings.Contains(printed[2].Stdout, "err ***") {
		t.Errorf("the masked output is not shown:\n%s\n%s", printed[0], printed[2])
	}
	assertNotOnDisk(t, e.Home, echoedKey)
}
