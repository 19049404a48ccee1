package providers_test

// The whole path through the real engine and file store: an alias with a
// secret, two chained llm steps against a fake OpenAI server, replay after
// swapping the model behind the alias. An external test package, because
// the engine imports providers.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/providers"
)

const chainFlow = `name: chain
inputs:
  topic: {type: string, default: durability}
defaults:
  model: fast
steps:
  outline:
    kind: llm
    system: You are brief.
    prompt: Outline ${{ inputs.topic }}.
  draft:
    kind: llm
    prompt: Draft from ${{ steps.outline.output }}.
`

type secretMap map[string]map[string]string

func (s secretMap) Get(name string) (map[string]string, error) {
	if kv, ok := s[name]; ok {
		return kv, nil
	}
	return nil, os.ErrNotExist
}

// modelServer is a fake OpenAI server that records the model of every
// request; fail(n) makes the n-th request (from 1) answer HTTP 400, and a
// wrong key is refused.
type modelServer struct {
	*httptest.Server
	mu     sync.Mutex
	models []string
}

func newModelServer(t *testing.T, key string, fail func(n int) bool) *modelServer {
	m := &modelServer{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"bad key"}}`)
			return
		}
		m.mu.Lock()
		m.models = append(m.models, body.Model)
		n := len(m.models)
		m.mu.Unlock()
		if fail != nil && fail(n) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"context too long"}}`)
			return
		}
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"`+body.Model+`",
			"choices":[{"index":0,"message":{"role":"assistant","content":"answer"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150}}`)
	}))
	t.Cleanup(m.Close)
	return m
}

// called lists the models requested so far, comma-separated.
func (m *modelServer) called() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.models, ",")
}

func TestEngineChainReplayWithSwappedModel(t *testing.T) {
	const key = "sk-integration-secret-value-1234"
	srv := newModelServer(t, key, nil)

	config, data := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	var reg providers.Registry
	reg.Register("fast", "openai/gpt-4o-mini", "openai-creds")
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENAI_BASE_URL": srv.URL}
	opts := providers.Options{
		Getenv:  func(k string) string { return env[k] },
		Secrets: secretMap{"openai-creds": {"OPENAI_API_KEY": key}},
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	eng := engine.New(engine.Config{Store: filestore.New(data), Models: providers.Source{Options: opts}})
	run := startFlow(t, eng, chainFlow)
	if run.Status != engine.RunCompleted {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	for _, s := range run.Steps {
		if s.Model != "openai/gpt-4o-mini" || s.Alias != "fast" || s.Credential != providers.CredentialSecret ||
			s.Usage != (providers.Usage{InputTokens: 100, OutputTokens: 50}) || s.CostUSD == nil {
			t.Fatalf("step %s recorded %+v", s.ID, s)
		}
	}
	if run.Registry == nil || run.Registry.Aliases["fast"].Secret != "openai-creds" {
		t.Fatalf("run did not record the registry snapshot: %+v", run.Registry)
	}

	// Swap the model behind the alias, replay from the second step.
	reg.Register("fast", "openai/gpt-4o", "openai-creds")
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	replay, err := eng.Replay(context.Background(), engine.ReplayOptions{Source: run.ID, From: "draft"})
	if err != nil {
		t.Fatal(err)
	}
	if replay.Status != engine.RunCompleted {
		t.Fatalf("replay %s: %v", replay.Status, replay.Error)
	}
	if got := srv.called(); got != "gpt-4o-mini,gpt-4o-mini,gpt-4o" {
		t.Fatalf("models called = %s; want the replay to make exactly one call, with the new model", got)
	}

	// The key reached the server, but nothing kitaru wrote may hold it.
	assertNoFileHolds(t, key, config, data)
}

// A retry continues a failed run with the registry it recorded, so a run
// never switches models half-way even after the alias is re-registered.
func TestEngineRetryKeepsSnapshot(t *testing.T) {
	srv := newModelServer(t, "sk-env-key-123456", func(n int) bool { return n == 2 }) // the first draft fails for good
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var reg providers.Registry
	reg.Register("fast", "openai/gpt-4o-mini", "")
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	eng, run := startChainWithEnvKey(t, srv)
	if run.Status != engine.RunFailed {
		t.Fatalf("run is %s, want failed", run.Status)
	}
	if run.Error == nil || !strings.Contains(*run.Error+stepErrors(run), "context too long") {
		t.Errorf("the provider's message is not in the run record: %v / %s", run.Error, stepErrors(run))
	}
	reg.Register("fast", "openai/gpt-4o", "")
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	again, err := eng.Retry(context.Background(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != engine.RunCompleted {
		t.Fatalf("retry is %s", again.Status)
	}
	if got := srv.called(); got != "gpt-4o-mini,gpt-4o-mini,gpt-4o-mini" {
		t.Fatalf("models called = %s; the retry must keep the run's own snapshot", got)
	}
}

// startChainWithEnvKey runs chainFlow once against srv with the key in the
// environment and the local registry as the test left it.
func startChainWithEnvKey(t *testing.T, srv *modelServer) (*engine.Engine, *engine.Run) {
	t.Helper()
	return runFlow(t, srv.Server, chainFlow)
}

func stepErrors(run *engine.Run) string {
	var b strings.Builder
	for _, s := range run.Steps {
		if s.Error != nil {
			b.WriteString(*s.Error)
		}
	}
	return b.String()
}

// A run that failed because its alias was not registered yet is fixed by
// registering it and retrying, as the error says: the retry takes aliases
// its snapshot lacks from the current registry and records them, so later
// continuations keep that model.
func TestEngineRetryPicksUpAnAliasRegisteredAfterTheRun(t *testing.T) {
	srv := newModelServer(t, "sk-env-key-123456", func(int) bool { return false })
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	eng, run := startChainWithEnvKey(t, srv)
	if run.Status != engine.RunFailed || !strings.Contains(stepErrors(run), "not registered") {
		t.Fatalf("run is %s (%s), want failed for the unregistered alias", run.Status, stepErrors(run))
	}
	var reg providers.Registry
	reg.Register("fast", "openai/gpt-4o-mini", "")
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	again, err := eng.Retry(context.Background(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != engine.RunCompleted {
		t.Fatalf("retry is %s: %s", again.Status, stepErrors(again))
	}
	if got := srv.called(); got != "gpt-4o-mini,gpt-4o-mini" {
		t.Fatalf("models called = %s", got)
	}
	stored, err := eng.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Registry == nil || stored.Registry.Aliases["fast"].Model != "openai/gpt-4o-mini" {
		t.Fatalf("the retry did not record the alias it resolved: %+v", stored.Registry)
	}
}
