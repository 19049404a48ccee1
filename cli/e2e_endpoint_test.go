package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// An alias registered with --base-url and a --header naming a secret,
// through the real binary: the request goes to the alias's server and
// path with the secret's value (and not OPENAI_API_KEY, which is set);
// the server echoes what it was sent, and the value reaches no output,
// log or file of the run, while the run's registry snapshot keeps the
// reference.
func TestE2EAliasEndpointWithSecretHeader(t *testing.T) {
	t.Parallel()
	const value = "gsk_e2e_header_secret_5d1c"
	e := newE2E(t)
	requireEngine(t, e)
	e.setenv("KITARU_SECRETS_BACKEND", "file")
	e.setenv("OPENAI_API_KEY", testAPIKey)

	var mu sync.Mutex
	var seen []string // path and Authorization of each request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		auth := r.Header.Get("Authorization")
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+auth+" "+r.Header.Get("X-Title"))
		mu.Unlock()
		content, _ := json.Marshal("the server saw " + auth)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":"llama",
			"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, content)
	}))
	t.Cleanup(srv.Close)

	e.must(0, "secrets", "set", "groq-creds", "--GROQ_API_KEY="+value)
	reg := e.must(0, "model", "register", "groq", "--model", "openai/llama-3.1-8b-instant", "--base-url", srv.URL+"/openai/v1",
		"--header", "Authorization=secret:groq-creds/GROQ_API_KEY", "--header", "X-Title=kitaru e2e")
	if strings.Contains(reg.Stderr, "does not exist") {
		t.Errorf("register warned about a secret that exists:\n%s", reg)
	}
	list := e.must(0, "model", "list").Stdout
	for _, w := range []string{srv.URL + "/openai/v1", "Authorization=secret:groq-creds/GROQ_API_KEY, X-Title=kitaru e2e"} {
		if !strings.Contains(list, w) {
			t.Errorf("model list lacks %q:\n%s", w, list)
		}
	}

	flow := e.flow("groq.yaml", `name: groq_call
steps:
  ask:
    kind: llm
    model: groq
    prompt: Say hi
output: ${{ steps.ask.output }}
`)
	r := e.run("run", flow, "--json")
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	mu.Lock()
	got := append([]string(nil), seen...)
	mu.Unlock()
	if want := "/openai/v1/chat/completions Bearer " + value + " kitaru e2e"; len(got) != 1 || got[0] != want {
		t.Fatalf("the server saw %q, want [%q]", got, want)
	}
	rec := decodeRun(t, r.Stdout)
	if rec.Output != "the server saw Bearer ***" {
		t.Errorf("output %v, want the echoed key masked", rec.Output)
	}
	s := stepOf(t, rec, "ask")
	if s.Credential != "secret" || s.Model != "openai/llama-3.1-8b-instant" || s.CostUSD != nil {
		t.Errorf("step record: credential %q model %q cost %v", s.Credential, s.Model, s.CostUSD)
	}
	if a := rec.Registry.Aliases["groq"]; a.BaseURL != srv.URL+"/openai/v1" || a.Headers["Authorization"] != "secret:groq-creds/GROQ_API_KEY" {
		t.Errorf("the run's registry snapshot holds %+v, want the base URL and the reference", a)
	}
	for _, out := range []result{r, e.must(0, "executions", "logs", "last"), e.must(0, "executions", "get", rec.ID)} {
		if strings.Contains(out.Stdout+out.Stderr, value) {
			t.Errorf("the header's secret value was printed:\n%s", out)
		}
	}
	// The file backend keeps values in the config dir, by the user's
	// explicit choice; the run state must hold none.
	assertNotOnDisk(t, e.Home, value, testAPIKey)
}
