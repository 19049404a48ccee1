package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// The whole llm path through the real binary: the providers' real
// langchaingo OpenAI client against a local server speaking OpenAI chat
// completions.

const testAPIKey = "sk-test-SECRET-7f3a9c1e5b"

// fakeOpenAI answers chat completions and remembers every request.
type fakeOpenAI struct {
	mu       sync.Mutex
	requests []openAIRequest
	auth     []string
	fail     bool // answer 400 (a non-transient error) instead
}

type openAIRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	var req openAIRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	n, fail := len(f.requests), f.fail
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if fail {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error": {"message": "the model is having a bad day", "type": "invalid_request_error"}}`)
		return
	}
	last := ""
	if len(req.Messages) > 0 {
		last = req.Messages[len(req.Messages)-1].Content
	}
	reply := fmt.Sprintf("reply %d by %s to [%s]", n, req.Model, last)
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": 1700000000, "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": reply}}},
		"usage": map[string]any{"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
	}
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeOpenAI) snapshot() ([]openAIRequest, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]openAIRequest(nil), f.requests...), append([]string(nil), f.auth...)
}

func (f *fakeOpenAI) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

const twoLLMFlow = `name: two_llm
inputs:
  topic: {type: string, default: durable agents}
defaults:
  model: fast
steps:
  outline:
    kind: llm
    system: You are terse.
    prompt: Outline ${{ inputs.topic }}
  draft:
    kind: llm
    prompt: Draft from ${{ steps.outline.output }}
output: ${{ steps.draft.output }}
`

// newLLME2E is an installation whose OpenAI endpoint is a fake server.
func newLLME2E(t *testing.T) (*e2e, *fakeOpenAI) {
	e := newE2E(t)
	requireEngine(t, e)
	srv := &fakeOpenAI{}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.setenv("OPENAI_BASE_URL", ts.URL+"/v1")
	return e, srv
}

func TestE2ELLMStepsReplayAndAliasSwap(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("llm.yaml", twoLLMFlow)

	// The alias names a secret, but the environment variable comes first,
	// so the keyring (unreachable here: no session bus) is never opened.
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds")
	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	reqs, auth := srv.snapshot()
	if len(reqs) != 2 {
		t.Fatalf("the first run sent %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if r.Model != "gpt-4o-mini" {
			t.Errorf("request %d asked for model %q", i, r.Model)
		}
		if auth[i] != "Bearer "+testAPIKey {
			t.Errorf("request %d sent Authorization %q", i, auth[i])
		}
	}
	if len(reqs[0].Messages) != 2 || reqs[0].Messages[0].Role != "system" || reqs[0].Messages[0].Content != "You are terse." {
		t.Errorf("the outline request's messages: %+v", reqs[0].Messages)
	}
	if !strings.Contains(reqs[1].Messages[len(reqs[1].Messages)-1].Content, "reply 1 by gpt-4o-mini") {
		t.Errorf("the draft prompt did not get the outline: %+v", reqs[1].Messages)
	}
	out := stepOf(t, first, "outline")
	if out.Model != "openai/gpt-4o-mini" || out.Credential != "environment" || out.Usage.InputTokens != 11 || out.Usage.OutputTokens != 7 {
		t.Errorf("outline record: model %q credential %q usage %+v", out.Model, out.Credential, out.Usage)
	}
	if first.Usage.InputTokens != 22 || first.Usage.OutputTokens != 14 {
		t.Errorf("run usage %+v, want 22 in / 14 out", first.Usage)
	}

	// Replay from the second step: exactly one new request.
	decodeRun(t, e.must(0, "replay", first.ID, "--from", "draft", "--json", "--quiet").Stdout)
	if reqs, _ = srv.snapshot(); len(reqs) != 3 {
		t.Fatalf("replay --from draft sent %d requests, want 1", len(reqs)-2)
	}

	// A failed run keeps its registry snapshot when retried, even after
	// the alias moved to another model.
	srv.setFail(true)
	failed := decodeRun(t, e.run("run", flow, "--json", "--quiet").Stdout)
	if failed.Status != engine.RunFailed {
		t.Fatalf("run against a failing server ended %s", failed.Status)
	}
	if msg := stepOf(t, failed, "outline").Error; msg == nil || !strings.Contains(*msg, "bad day") {
		t.Errorf("the step error does not carry the provider's message: %v", msg)
	}
	srv.setFail(false)
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o")
	before, _ := srv.snapshot()

	// Replay is a new run: it resolves the alias now, so it uses gpt-4o.
	replayed := decodeRun(t, e.must(0, "replay", first.ID, "--from", "draft", "--json", "--quiet").Stdout)
	reqs, _ = srv.snapshot()
	if len(reqs) != len(before)+1 || reqs[len(reqs)-1].Model != "gpt-4o" {
		t.Errorf("replay after re-registering asked for %q, want gpt-4o", reqs[len(reqs)-1].Model)
	}
	if got := stepOf(t, replayed, "draft").Model; got != "openai/gpt-4o" {
		t.Errorf("replay recorded model %q", got)
	}

	// Retry continues the failed run with the model it started with.
	retried := decodeRun(t, e.must(0, "retry", failed.ID, "--json", "--quiet").Stdout)
	reqs, _ = srv.snapshot()
	for _, r := range reqs[len(before)+1:] {
		if r.Model != "gpt-4o-mini" {
			t.Errorf("retry of a run started with gpt-4o-mini asked for %q", r.Model)
		}
	}
	if retried.Status != engine.RunCompleted {
		t.Errorf("retry ended %s", retried.Status)
	}

	// The key never reaches a file.
	assertNotOnDisk(t, e.Home, testAPIKey)
	assertNotOnDisk(t, e.Cfg, testAPIKey)
}

// assertNotOnDisk fails the test if any file under root holds one of the
// values.
func assertNotOnDisk(t *testing.T, root string, values ...string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range values {
			if strings.Contains(string(b), v) {
				t.Errorf("a secret value was written to %s", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestE2EMockNeedsNoCredentials(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "mocked answer")
	flow := e.flow("llm.yaml", twoLLMFlow)
	r := e.must(0, "run", flow)
	if !strings.Contains(r.Stdout, "mocked answer") {
		t.Errorf("mock run printed:\n%s", r)
	}
	// The keyring was never needed, so nothing about it was said.
	if strings.Contains(strings.ToLower(r.Stderr), "keyring") {
		t.Errorf("a mock run touched the keyring:\n%s", r.Stderr)
	}
}

// Secrets through the explicit plain-file backend (no Secret Service
// needed): an alias's linked secret supplies the API key, a checkpoint's
// secret becomes its environment, and neither value reaches the run state.
func TestE2ESecretsReachStepsButNotTheRecord(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("KITARU_SECRETS_BACKEND", "file")
	const hookToken = "hook-SECRET-91c2d7"

	e.must(0, "secrets", "set", "openai-creds", "--OPENAI_API_KEY="+testAPIKey)
	e.must(0, "secrets", "set", "webhook", "--HOOK_TOKEN="+hookToken)
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds")
	flow := e.flow("secret.yaml", `name: secret_use
defaults:
  model: fast
steps:
  ask:
    kind: llm
    prompt: Say hi
  post:
    kind: checkpoint
    secrets: [webhook]
    run: echo "token is $HOOK_TOKEN"; echo "stderr has $HOOK_TOKEN" >&2
output: ${{ steps.post.output }}
`)
	r := e.run("run", flow, "--json")
	if r.Code != 0 {
		t.Fatalf("run with secrets: %s", r)
	}
	rec := decodeRun(t, r.Stdout)
	if got := stepOf(t, rec, "ask").Credential; got != "secret" {
		t.Errorf("credential_source %q, want secret", got)
	}
	if _, auth := srv.snapshot(); len(auth) != 1 || auth[0] != "Bearer "+testAPIKey {
		t.Errorf("the request carried Authorization %q", auth)
	}
	if rec.Output != "token is ***" {
		t.Errorf("output %v, want the token redacted", rec.Output)
	}
	if strings.Contains(r.Stdout+r.Stderr, hookToken) || strings.Contains(r.Stdout+r.Stderr, testAPIKey) {
		t.Errorf("a secret value was printed:\n%s", r)
	}
	logs := e.must(0, "executions", "logs", "last")
	if strings.Contains(logs.Stdout, hookToken) || !strings.Contains(logs.Stdout, "stderr has ***") {
		t.Errorf("logs do not redact the secret:\n%s", logs.Stdout)
	}
	// The file backend keeps values in the config dir, by the user's
	// explicit choice; the run state must hold none.
	assertNotOnDisk(t, e.Home, hookToken, testAPIKey)
}

// An `output: json` step whose model answers prose three times was paid
// for three times: `executions get` shows the tokens and cost of every
// attempt, in the step and in the run, and the record lists each attempt.
func TestE2EFailedAttemptsCountInExecutionsGet(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("json.yaml", `name: wants_json
steps:
  extract:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Give me JSON
    output: json
    retry: {attempts: 3, backoff: 10ms}
`)
	rec := decodeRun(t, e.must(1, "run", flow, "--json", "--quiet").Stdout)
	if reqs, _ := srv.snapshot(); len(reqs) != 3 {
		t.Fatalf("the step sent %d requests, want 3", len(reqs))
	}
	s := stepOf(t, rec, "extract")
	// The fake answers 11 tokens in and 7 out per call.
	if s.Usage.InputTokens != 33 || s.Usage.OutputTokens != 21 || s.CostUSD == nil || *s.CostUSD <= 0 {
		t.Errorf("step usage %+v cost %v, want 33 in / 21 out with a cost", s.Usage, s.CostUSD)
	}
	if rec.Usage != s.Usage || s.CostUSD == nil || rec.CostUSD != *s.CostUSD {
		t.Errorf("run totals %+v $%v do not include the failed step's %+v", rec.Usage, rec.CostUSD, s.Usage)
	}
	if len(s.AttemptsDetail) != 3 || s.AttemptsDetail[2].Usage.InputTokens != 11 {
		t.Errorf("attempts recorded: %+v", s.AttemptsDetail)
	}
	get := e.must(0, "executions", "get", rec.ID).Stdout
	for _, w := range []string{"tokens    33 in, 21 out", "cost      <$0.0001"} {
		if !strings.Contains(get, w) {
			t.Errorf("executions get lacks %q:\n%s", w, get)
		}
	}
	var row string
	for _, l := range strings.Split(get, "\n") {
		if strings.HasPrefix(l, "extract ") && row == "" {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 7 || f[2] != "failed" || f[3] != "3" || f[5] != "54" || f[6] == "-" {
		t.Errorf("the step's row does not show 3 attempts, 54 tokens and a cost: %q\n%s", row, get)
	}
}
