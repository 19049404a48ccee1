package providers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// echoServer is an OpenAI-compatible server (a vLLM or Groq stand-in)
// that answers with the Authorization header it was sent, the way a
// careless proxy might echo it, and counts the requests.
type echoServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newEchoServer(t *testing.T) *echoServer {
	s := &echoServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		content, _ := json.Marshal("you sent " + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"llama",
			"choices":[{"index":0,"message":{"role":"assistant","content":`+string(content)+`},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *echoServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// An alias pointed at its own server with a header naming a secret: the
// run records the reference, never the value (which the server echoed);
// moving the alias to another server is a model change for a replay.
func TestEngineAliasEndpointRecordsAndReplay(t *testing.T) {
	const value = "gsk_engine_secret_value_31"
	first, second := newEchoServer(t), newEchoServer(t)
	config, data := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	register := func(base string) {
		t.Helper()
		var reg providers.Registry
		if _, err := reg.Put("fast", providers.Alias{Model: "openai/llama", BaseURL: base,
			Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY"}}); err != nil {
			t.Fatal(err)
		}
		if err := providers.SaveLocal(reg); err != nil {
			t.Fatal(err)
		}
	}
	register(first.URL + "/v1")
	opts := providers.Options{
		Getenv:  func(string) string { return "" },
		Secrets: secretMap{"groq-creds": {"GROQ_API_KEY": value}},
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	eng := engine.New(engine.Config{Store: filestore.New(data), Models: providers.Source{Options: opts}})
	run := startFlow(t, eng, chainFlow)
	if run.Status != engine.RunCompleted {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	if got := first.requests(); len(got) != 2 || got[0] != "/v1/chat/completions" {
		t.Fatalf("the first server saw %q", got)
	}
	if out, _ := run.Output.(string); strings.Contains(out, value) {
		t.Errorf("the run's output holds the secret: %q", out)
	}
	for _, s := range run.Steps {
		if s.Credential != providers.CredentialSecret {
			t.Errorf("step %s credential_source %q, want secret", s.ID, s.Credential)
		}
	}
	snap := run.Registry.Aliases["fast"]
	if snap.BaseURL != first.URL+"/v1" || snap.Headers["Authorization"] != "secret:groq-creds/GROQ_API_KEY" {
		t.Errorf("the snapshot recorded %+v, want the base URL and the header's reference", snap)
	}

	// Nothing changed: a replay reuses both steps.
	same, err := eng.Replay(context.Background(), engine.ReplayOptions{Source: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(first.requests()); same.Status != engine.RunCompleted || n != 2 {
		t.Fatalf("a replay with nothing changed ended %s after %d requests, want 2", same.Status, n)
	}

	// The alias moves to another server: another answer may come back.
	register(second.URL + "/v1")
	moved, err := eng.Replay(context.Background(), engine.ReplayOptions{Source: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Status != engine.RunCompleted || len(second.requests()) != 2 || len(first.requests()) != 2 {
		t.Fatalf("replay after moving the alias: %s, servers saw %d and %d requests, want 0 and 2 more",
			moved.Status, len(first.requests())-2, len(second.requests()))
	}
	outline := moved.Steps[0]
	if outline.Reused || outline.Why == nil || outline.Why.Code != runstore.ReasonModelChanged || outline.Why.Model == nil ||
		outline.Why.Model.WasBaseURL != first.URL+"/v1" || outline.Why.Model.NowBaseURL != second.URL+"/v1" {
		t.Errorf("outline after the move: reused %v, why %+v", outline.Reused, outline.Why)
	}

	assertNoFileHolds(t, value, config, data)
}

// startFlow starts the flow src on eng with its default inputs.
func startFlow(t *testing.T, eng *engine.Engine, src string) *engine.Run {
	t.Helper()
	f, err := flowspec.Parse("flow.yaml", []byte(src), flowspec.Options{CheckModel: providers.CheckModel})
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.BindInputs(nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := eng.Start(context.Background(), engine.StartOptions{Flow: f, Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// assertNoFileHolds fails the test for every file under dirs holding value.
func assertNoFileHolds(t *testing.T, value string, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), value) {
				t.Errorf("%s holds the secret value", path)
			}
			return nil
		})
	}
}
