package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/keyring"
)

// seen is one request a fake provider received.
type seen struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

// fakeProvider is an httptest server that records requests and answers
// from a queue of canned replies (the last one repeats).
type fakeProvider struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []seen
	replies []reply
}

type reply struct {
	status int
	header map[string]string
	body   string
}

func newFake(t *testing.T, replies ...reply) *fakeProvider {
	t.Helper()
	f := &fakeProvider{replies: replies}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not a JSON object: %v: %s", err, raw)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		rep := f.replies[min(len(f.reqs), len(f.replies))-1]
		f.mu.Unlock()
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(cmp(rep.status, http.StatusOK))
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func cmp(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func (f *fakeProvider) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

const (
	openAIReply = `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini",
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello from openai"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	anthropicReply = `{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-0",
		"content":[{"type":"text","text":"hello "},{"type":"text","text":"from anthropic"}],
		"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":5}}`
	// Ollama streams one JSON object per line.
	ollamaReply = `{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"hello from ollama"},"done":true,"prompt_eval_count":9,"eval_count":4}`
)

type fakeSecrets map[string]map[string]string

func (f fakeSecrets) Get(name string) (map[string]string, error) {
	s, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("secret %q: %w", name, keyring.ErrNotFound)
	}
	return s, nil
}

// sleeps records retry waits instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func msgs() []Message {
	return []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "say hello"}}
}

func TestProvidersWireProtocol(t *testing.T) {
	tests := []struct {
		provider   string
		model      string
		reply      string
		baseVar    string
		baseSuffix string // what kitaru must add to the env value
		keyVar     string
		path       string
		wantText   string
		wantUsage  Usage
		wantCost   bool
		authHeader string
		authValue  string
	}{
		{provider: "openai", model: "openai/gpt-4o-mini", reply: openAIReply, baseVar: "OPENAI_BASE_URL", baseSuffix: "/v1",
			keyVar: "OPENAI_API_KEY", path: "/v1/chat/completions", wantText: "hello from openai",
			wantUsage: Usage{11, 7}, wantCost: true, authHeader: "Authorization", authValue: "Bearer sk-test"},
		{provider: "openrouter", model: "openrouter/meta-llama/llama-3.1-8b-instruct", reply: openAIReply, baseVar: "OPENROUTER_BASE_URL", baseSuffix: "/api/v1",
			keyVar: "OPENROUTER_API_KEY", path: "/api/v1/chat/completions", wantText: "hello from openai",
			wantUsage: Usage{11, 7}, authHeader: "Authorization", authValue: "Bearer sk-test"},
		{provider: "anthropic", model: "anthropic/claude-sonnet-4-0", reply: anthropicReply, baseVar: "ANTHROPIC_BASE_URL",
			keyVar: "ANTHROPIC_API_KEY", path: "/v1/messages", wantText: "hello from anthropic",
			wantUsage: Usage{12, 5}, wantCost: true, authHeader: "X-Api-Key", authValue: "sk-test"},
		{provider: "gemini", model: "gemini/gemini-2.5-flash", reply: openAIReply, baseVar: "GEMINI_BASE_URL", baseSuffix: "/v1beta/openai/",
			keyVar: "GEMINI_API_KEY", path: "/v1beta/openai/chat/completions", wantText: "hello from openai",
			wantUsage: Usage{11, 7}, wantCost: true, authHeader: "Authorization", authValue: "Bearer sk-test"},
		{provider: "ollama", model: "ollama/llama3.2", reply: ollamaReply, baseVar: "OLLAMA_HOST",
			path: "/api/chat", wantText: "hello from ollama", wantUsage: Usage{9, 4}, wantCost: true},
	}
	for _, tt := range tests {
		for _, temp := range []*float64{nil, ptr(0.7)} {
			t.Run(fmt.Sprintf("%s/temperature=%v", tt.provider, temp != nil), func(t *testing.T) {
				f := newFake(t, reply{body: tt.reply})
				env := map[string]string{tt.baseVar: f.URL + tt.baseSuffix}
				if tt.keyVar != "" {
					env[tt.keyVar] = "sk-test"
				}
				c := New(Registry{}, Options{Getenv: envOf(env)})
				resp, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs(), Temperature: temp})
				if err != nil {
					t.Fatal(err)
				}
				reqs := f.requests()
				if len(reqs) != 1 {
					t.Fatalf("server saw %d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Path != tt.path {
					t.Errorf("path = %q, want %q", r.Path, tt.path)
				}
				_, wantName, _ := strings.Cut(tt.model, "/")
				if r.Body["model"] != wantName {
					t.Errorf("model sent = %v, want %q", r.Body["model"], wantName)
				}
				if tt.authHeader != "" && r.Header.Get(tt.authHeader) != tt.authValue {
					t.Errorf("%s = %q, want %q", tt.authHeader, r.Header.Get(tt.authHeader), tt.authValue)
				}
				if sys := systemOf(tt.provider, r.Body); sys != "be brief" {
					t.Errorf("system message = %q, want %q (body %v)", sys, "be brief", r.Body)
				}
				gotTemp, hasTemp := temperatureOf(tt.provider, r.Body)
				if temp == nil && hasTemp {
					t.Errorf("temperature %v sent although the step set none", gotTemp)
				}
				if temp != nil && (!hasTemp || gotTemp != *temp) {
					t.Errorf("temperature = %v (sent %v), want %v", gotTemp, hasTemp, *temp)
				}
				if tt.provider == "anthropic" && r.Body["max_tokens"] != float64(DefaultAnthropicMaxTokens) {
					t.Errorf("anthropic max_tokens = %v, want %d", r.Body["max_tokens"], DefaultAnthropicMaxTokens)
				}
				if resp.Text != tt.wantText || resp.Usage != tt.wantUsage || resp.Model != tt.model || resp.Attempts != 1 {
					t.Errorf("response = %+v", resp)
				}
				wantSource := CredentialEnvironment
				if tt.keyVar == "" {
					wantSource = CredentialNone
				}
				if resp.CredentialSource != wantSource {
					t.Errorf("credential source = %q, want %q", resp.CredentialSource, wantSource)
				}
				if (resp.CostUSD != nil) != tt.wantCost {
					t.Errorf("cost = %v, want known=%v", resp.CostUSD, tt.wantCost)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

func systemOf(provider string, body map[string]any) string {
	if provider == "anthropic" {
		switch s := body["system"].(type) {
		case string:
			return s
		case []any: // a list of text blocks
			if len(s) > 0 {
				if m, ok := s[0].(map[string]any); ok {
					t, _ := m["text"].(string)
					return t
				}
			}
		}
		return ""
	}
	list, _ := body["messages"].([]any)
	if len(list) == 0 {
		return ""
	}
	m, _ := list[0].(map[string]any)
	if m["role"] != "system" {
		return ""
	}
	if s, ok := m["content"].(string); ok {
		return s
	}
	// OpenAI multi-part content: [{"type":"text","text":"…"}]
	if parts, ok := m["content"].([]any); ok && len(parts) > 0 {
		p, _ := parts[0].(map[string]any)
		s, _ := p["text"].(string)
		return s
	}
	return ""
}

func temperatureOf(provider string, body map[string]any) (float64, bool) {
	if provider == "ollama" {
		opts, _ := body["options"].(map[string]any)
		v, ok := opts["temperature"].(float64)
		_, present := opts["temperature"]
		return v, ok || present
	}
	v, ok := body["temperature"].(float64)
	_, present := body["temperature"]
	return v, ok || present
}

func TestCredentialPrecedence(t *testing.T) {
	reg := Registry{Aliases: map[string]Alias{
		"fast":    {Model: "openai/gpt-4o-mini", Secret: "openai-creds"},
		"nosec":   {Model: "openai/gpt-4o-mini"},
		"gone":    {Model: "openai/gpt-4o-mini", Secret: "missing"},
		"wrongkv": {Model: "openai/gpt-4o-mini", Secret: "other"},
	}}
	secrets := fakeSecrets{"openai-creds": {"OPENAI_API_KEY": "sk-from-secret"}, "other": {"ANTHROPIC_API_KEY": "x"}}
	tests := []struct {
		name       string
		model      string
		envKey     string
		wantSource string
		wantAuth   string
		wantErr    []string
	}{
		{name: "env beats secret", model: "fast", envKey: "sk-from-env", wantSource: CredentialEnvironment, wantAuth: "Bearer sk-from-env"},
		{name: "secret when no env", model: "fast", wantSource: CredentialSecret, wantAuth: "Bearer sk-from-secret"},
		{name: "raw model with env", model: "openai/gpt-4o", envKey: "sk-from-env", wantSource: CredentialEnvironment, wantAuth: "Bearer sk-from-env"},
		{name: "nothing anywhere", model: "nosec", wantErr: []string{
			"export OPENAI_API_KEY", "kitaru secrets set openai-creds --OPENAI_API_KEY=…",
			"kitaru model register nosec --model openai/gpt-4o-mini --secret openai-creds"}},
		{name: "raw model without key", model: "openai/gpt-4o", wantErr: []string{"OPENAI_API_KEY", "kitaru model register ALIAS --model openai/gpt-4o"}},
		{name: "secret missing", model: "gone", wantErr: []string{`secret "missing", which does not exist`, "kitaru secrets set missing --OPENAI_API_KEY=…"}},
		{name: "secret lacks key", model: "wrongkv", wantErr: []string{"no key OPENAI_API_KEY", "kitaru secrets set other --OPENAI_API_KEY=…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{body: openAIReply})
			env := map[string]string{"OPENAI_BASE_URL": f.URL}
			if tt.envKey != "" {
				env["OPENAI_API_KEY"] = tt.envKey
			}
			c := New(reg, Options{Getenv: envOf(env), Secrets: secrets})
			resp, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs()})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("call succeeded: %+v", resp)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if n := len(f.requests()); n != 0 {
					t.Errorf("server saw %d requests before the credential error, want 0", n)
				}
				if got := CredentialsOf(err); got != nil {
					t.Errorf("a call that found no key hands over %q to mask", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.CredentialSource != tt.wantSource {
				t.Errorf("source = %q, want %q", resp.CredentialSource, tt.wantSource)
			}
			// The engine masks the key it was sent; it is never serialised.
			if want := strings.TrimPrefix(tt.wantAuth, "Bearer "); len(resp.Credentials) != 1 || resp.Credentials[0] != want {
				t.Errorf("Credentials = %q, want [%q]", resp.Credentials, want)
			}
			if b, _ := json.Marshal(resp); strings.Contains(string(b), "sk-from") {
				t.Errorf("the response serialises the key: %s", b)
			}
			if got := f.requests()[0].Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		retryAfter string
		status     int
		wantMin    time.Duration
		wantMax    time.Duration
	}{
		{"429 seconds", "3", 429, 3 * time.Second, 3 * time.Second},
		{"429 http date", date, 429, 80 * time.Second, 90 * time.Second},
		{"503 no header backs off", "", 503, baseBackoff, baseBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.retryAfter != "" {
				hdr["Retry-After"] = tt.retryAfter
			}
			f := newFake(t, reply{status: tt.status, header: hdr, body: `{"error":{"message":"slow down"}}`}, reply{body: openAIReply})
			var s sleeps
			c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}), Sleep: s.sleep})
			resp, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Attempts != 2 || len(f.requests()) != 2 {
				t.Fatalf("attempts = %d, server saw %d; want 2", resp.Attempts, len(f.requests()))
			}
			if resp.Usage != (Usage{11, 7}) || resp.Text != "hello from openai" {
				t.Fatalf("response after retry = %+v", resp)
			}
			if len(s.d) != 1 || s.d[0] < tt.wantMin || s.d[0] > tt.wantMax {
				t.Fatalf("waited %v, want one wait in [%v, %v]", s.d, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestServerErrorsExhausted(t *testing.T) {
	f := newFake(t, reply{status: 500, body: `{"error":{"message":"the engine is overloaded"}}`})
	var s sleeps
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}), Sleep: s.sleep})
	_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err == nil {
		t.Fatal("call succeeded against a failing server")
	}
	if n := len(f.requests()); n != maxAttempts {
		t.Fatalf("server saw %d requests, want %d", n, maxAttempts)
	}
	for _, w := range []string{"HTTP 500", "after 4 attempts", "the engine is overloaded"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if fmt.Sprint(s.d) != fmt.Sprint(want) {
		t.Errorf("backoff waits = %v, want %v", s.d, want)
	}
}

func TestClientErrorNotRetriedAndKeyRedacted(t *testing.T) {
	const key = "sk-very-secret-value"
	f := newFake(t, reply{status: 401, body: `{"error":{"message":"Incorrect API key provided: ` + key + `"}}`})
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": key}), Sleep: (&sleeps{}).sleep})
	_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err == nil {
		t.Fatal("call succeeded")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("a 401 was sent %d times, want 1", n)
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("error leaks the key: %v", err)
	}
	if got := CredentialsOf(err); len(got) != 1 || got[0] != key {
		t.Errorf("CredentialsOf(err) = %q, want the key, for the engine to mask", got)
	}
	if !errors.Is(err, ErrPermanent) {
		t.Errorf("carrying the key hides that the error is permanent: %v", err)
	}
	for _, w := range []string{"HTTP 401", "Incorrect API key", "check the API key in OPENAI_API_KEY"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestConnectionRefusedNamesURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tests := []struct {
		model string
		env   map[string]string
		want  []string
	}{
		{"ollama/llama3.2", map[string]string{"OLLAMA_HOST": addr}, []string{"http://" + addr + "/api/chat", "ollama serve", "OLLAMA_HOST"}},
		{"openai/gpt-4o-mini", map[string]string{"OPENAI_BASE_URL": "http://" + addr + "/v1", "OPENAI_API_KEY": "k"}, []string{"http://" + addr + "/v1/chat/completions", "OPENAI_BASE_URL"}},
	}
	for _, tt := range tests {
		var s sleeps
		c := New(Registry{}, Options{Getenv: envOf(tt.env), Sleep: s.sleep})
		_, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs()})
		if err == nil {
			t.Fatalf("%s: call to a closed port succeeded", tt.model)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.model, err, w)
			}
		}
		if len(s.d) != 0 {
			t.Errorf("%s: a refused connection was retried (%v)", tt.model, s.d)
		}
	}
}

func TestConnectionResetRetried(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // close with RST
				}
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, openAIReply)
	}))
	defer srv.Close()
	var s sleeps
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "k"}), Sleep: s.sleep})
	resp, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", resp.Attempts)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"100000", 100000 * time.Second, true},
		{now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBaseURLs is the rule per provider: a base URL is written as the
// provider's SDK expects it, from the alias, else the provider's variable,
// else the default.
func TestBaseURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		provider, alias, env, want, wantFrom string
	}{
		{provider: "openai", want: "https://api.openai.com/v1", wantFrom: "default"},
		{provider: "openai", env: "http://x/v1/", want: "http://x/v1", wantFrom: "OPENAI_BASE_URL"},
		{provider: "openai", env: "http://x", want: "http://x", wantFrom: "OPENAI_BASE_URL"}, // as written: no /v1 added
		{provider: "openai", alias: "http://gpu:8000/v1/", env: "http://x/v1", want: "http://gpu:8000/v1", wantFrom: "alias"},
		{provider: "anthropic", want: "https://api.anthropic.com/v1", wantFrom: "default"},
		{provider: "anthropic", env: "http://x", want: "http://x/v1", wantFrom: "ANTHROPIC_BASE_URL"},
		{provider: "anthropic", env: "http://x/v1", want: "http://x/v1", wantFrom: "ANTHROPIC_BASE_URL"},
		{provider: "anthropic", alias: "http://proxy", want: "http://proxy/v1", wantFrom: "alias"},
		{provider: "openrouter", want: "https://openrouter.ai/api/v1", wantFrom: "default"},
		{provider: "gemini", want: "https://generativelanguage.googleapis.com/v1beta/openai", wantFrom: "default"},
		{provider: "gemini", env: "https://generativelanguage.googleapis.com/v1beta/openai/", want: "https://generativelanguage.googleapis.com/v1beta/openai", wantFrom: "GEMINI_BASE_URL"},
		{provider: "ollama", want: "http://localhost:11434", wantFrom: "default"},
		{provider: "ollama", env: "0.0.0.0", want: "http://127.0.0.1:11434", wantFrom: "OLLAMA_HOST"},
		{provider: "ollama", env: "gpu-box:1234", want: "http://gpu-box:1234", wantFrom: "OLLAMA_HOST"},
		{provider: "ollama", env: "https://ollama.example.com", want: "https://ollama.example.com", wantFrom: "OLLAMA_HOST"},
		{provider: "ollama", env: "http://[::1]:9999/", want: "http://[::1]:9999", wantFrom: "OLLAMA_HOST"},
		{provider: "ollama", alias: "http://gpu-box:11434", want: "http://gpu-box:11434", wantFrom: "alias"},
	}
	for _, tt := range tests {
		getenv := envOf(map[string]string{providerInfos[tt.provider].baseVar: tt.env})
		got, from := Endpoint(Alias{Model: tt.provider + "/m", BaseURL: tt.alias}, getenv)
		if got != tt.want || from != tt.wantFrom {
			t.Errorf("Endpoint(%s, alias %q, env %q) = %q from %s, want %q from %s", tt.provider, tt.alias, tt.env, got, from, tt.want, tt.wantFrom)
		}
	}
}

func TestWithoutTemperature(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"m","temperature":0}`, `{"model":"m"}`},
		{`{"model":"m","options":{"temperature":0,"num_predict":5}}`, `{"model":"m","options":{"num_predict":5}}`},
		{`{"model":"m"}`, `{"model":"m"}`},
		{`not json`, `not json`},
	}
	for _, tt := range tests {
		if got := string(withoutTemperature([]byte(tt.in))); got != tt.want {
			t.Errorf("withoutTemperature(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMaxTokensField(t *testing.T) {
	tests := []struct {
		model, baseVar, keyVar, reply string
		max                           int
		wantField                     string
		wantAbsent                    []string
	}{
		{"openai/gpt-4o-mini", "OPENAI_BASE_URL", "OPENAI_API_KEY", openAIReply, 100, "max_completion_tokens", []string{"max_tokens"}},
		{"openai/gpt-4o-mini", "OPENAI_BASE_URL", "OPENAI_API_KEY", openAIReply, 0, "", []string{"max_tokens", "max_completion_tokens"}},
		{"openrouter/x/y", "OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", openAIReply, 100, "max_tokens", []string{"max_completion_tokens"}},
		{"gemini/gemini-2.5-flash", "GEMINI_BASE_URL", "GEMINI_API_KEY", openAIReply, 100, "max_tokens", []string{"max_completion_tokens"}},
		{"anthropic/claude-sonnet-4-0", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", anthropicReply, 100, "max_tokens", nil},
	}
	for _, tt := range tests {
		f := newFake(t, reply{body: tt.reply})
		c := New(Registry{}, Options{Getenv: envOf(map[string]string{tt.baseVar: f.URL, tt.keyVar: "k"})})
		if _, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs(), MaxTokens: tt.max}); err != nil {
			t.Fatalf("%s: %v", tt.model, err)
		}
		body := f.requests()[0].Body
		if tt.wantField != "" && body[tt.wantField] != float64(tt.max) {
			t.Errorf("%s max=%d: %s = %v, want %d", tt.model, tt.max, tt.wantField, body[tt.wantField], tt.max)
		}
		for _, k := range tt.wantAbsent {
			if _, ok := body[k]; ok {
				t.Errorf("%s max=%d: %s sent: %v", tt.model, tt.max, k, body[k])
			}
		}
	}
}

// TestConcurrentCalls shares one Caller between goroutines, as the engine
// does for parallel steps; -race checks the rest.
func TestConcurrentCalls(t *testing.T) {
	f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "0"}}, reply{body: openAIReply})
	reg := Registry{Aliases: map[string]Alias{"fast": {Model: "openai/gpt-4o-mini", Secret: "s"}}, Default: "fast"}
	var s sleeps
	c := New(reg, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL}), Secrets: fakeSecrets{"s": {"OPENAI_API_KEY": "k"}}, Sleep: s.sleep})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Call(context.Background(), Request{Messages: msgs()})
			if err == nil && (resp.Text != "hello from openai" || resp.CredentialSource != CredentialSecret || resp.Alias != "fast") {
				err = fmt.Errorf("bad response %+v", resp)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(f.requests()); n != 9 {
		t.Errorf("server saw %d requests, want 9 (one 429 retried)", n)
	}
}

func TestSourceCurrent(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var local Registry
	local.Register("fast", "openai/gpt-4o-mini", "")
	if err := SaveLocal(local); err != nil {
		t.Fatal(err)
	}
	s := Source{Options: Options{Getenv: envOf(map[string]string{EnvModelRegistry: `{"aliases":{"fast":{"model":"ollama/llama3.2"}}}`})}}
	reg, err := s.Current()
	if err != nil || reg.Aliases["fast"].Model != "ollama/llama3.2" || reg.Default != "fast" {
		t.Fatalf("Current = %+v, %v", reg, err)
	}
}

func TestQuotaExhaustedNotRetried(t *testing.T) {
	f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "1"},
		body: `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`})
	var s sleeps
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}), Sleep: s.sleep})
	_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err == nil || !strings.Contains(err.Error(), "exceeded your current quota") {
		t.Fatalf("error = %v, want the provider's quota message", err)
	}
	if n := len(f.requests()); n != 1 || len(s.d) != 0 {
		t.Fatalf("quota error sent %d times with waits %v, want once", n, s.d)
	}
}

func TestOllamaMissingModelSaysPull(t *testing.T) {
	f := newFake(t, reply{status: 404, body: `{"error":"model \"qwen3\" not found, try pulling it first"}`})
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OLLAMA_HOST": f.URL}), Sleep: (&sleeps{}).sleep})
	_, err := c.Call(context.Background(), Request{Model: "ollama/qwen3", Messages: msgs()})
	if err == nil || !strings.Contains(err.Error(), "ollama pull qwen3") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("error = %v", err)
	}
}

func TestCancelledWhileWaitingToRetry(t *testing.T) {
	f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleep := func(ctx context.Context, d time.Duration) error {
		cancel() // the user pressed Ctrl-C during the wait
		<-ctx.Done()
		return ctx.Err()
	}
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}), Sleep: sleep})
	_, err := c.Call(ctx, Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want one wrapping context.Canceled", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("server saw %d requests after cancellation, want 1", n)
	}
}

// BenchmarkCall measures kitaru's own overhead around one OpenAI call to a
// local server (client setup, body rewrite, usage, cost).
func BenchmarkCall(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, openAIReply)
	}))
	defer srv.Close()
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "k"})})
	req := Request{Model: "openai/gpt-4o-mini", Messages: msgs()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Call(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPermanentErrors(t *testing.T) {
	f := newFake(t,
		reply{status: 400, body: `{"error":{"message":"bad request"}}`},
		reply{status: 500, body: `{"error":{"message":"boom"}}`})
	var s sleeps
	env := map[string]string{"OPENAI_BASE_URL": f.URL}
	reg := Registry{Aliases: map[string]Alias{"nokey": {Model: "openai/gpt-4o-mini"}}}
	c := New(reg, Options{Getenv: envOf(env), Sleep: s.sleep})
	call := func(model string) error {
		_, err := c.Call(context.Background(), Request{Model: model, Messages: msgs()})
		return err
	}
	if err := call("unknown"); !errors.Is(err, ErrPermanent) {
		t.Errorf("unknown alias: %v should be permanent", err)
	}
	if err := call("nokey"); !errors.Is(err, ErrPermanent) {
		t.Errorf("missing key: %v should be permanent", err)
	}
	locked := New(Registry{Aliases: map[string]Alias{"viasecret": {Model: "openai/gpt-4o-mini", Secret: "openai-creds"}}},
		Options{Getenv: envOf(env), Sleep: s.sleep, Secrets: failingSecrets{fmt.Errorf("no bus: %w", keyring.ErrUnavailable)}})
	if _, err := locked.Call(context.Background(), Request{Model: "viasecret", Messages: msgs()}); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Errorf("keyring unreachable: %v should be permanent and name the variable", err)
	}
	env["OPENAI_API_KEY"] = "sk-test-key-123"
	if err := call("nokey"); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "bad request") {
		t.Errorf("HTTP 400: %v should be permanent", err)
	}
	if err := call("nokey"); err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("HTTP 500 after retries: %v should not be permanent", err)
	}
}

type failingSecrets struct{ err error }

func (f failingSecrets) Get(string) (map[string]string, error) { return nil, f.err }

// A provider that accepts the request and never answers fails the call
// once the response timeout passes, naming the URL, without retrying.
func TestSilentServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var s sleeps
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "k"}
	c := New(Registry{}, Options{Getenv: envOf(env), Sleep: s.sleep, ResponseTimeout: 50 * time.Millisecond})
	_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err == nil {
		t.Fatal("a call to a server that never answers succeeded")
	}
	for _, w := range []string{"no answer from " + srv.URL + "/v1/chat/completions", "within 50ms"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if errors.Is(err, ErrPermanent) {
		t.Errorf("a timeout is marked permanent, so a step's retry would not try again: %v", err)
	}
	if len(s.d) != 0 {
		t.Errorf("the timeout was retried inside the call (%v)", s.d)
	}
}

// A count a provider reports below zero would lower the run's totals: it
// counts as nothing. An absurd one is bounded.
func TestImpossibleTokenCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		usage string
		want  Usage
	}{
		{`{"prompt_tokens":-1000000,"completion_tokens":-5,"total_tokens":-1000005}`, Usage{0, 0}},
		{`{"prompt_tokens":99999999999999,"completion_tokens":3,"total_tokens":4}`, Usage{maxTokenCount, 3}},
		{`{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}`, Usage{11, 7}},
	}
	for _, tt := range tests {
		body := strings.Replace(openAIReply, `{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}`, tt.usage, 1)
		f := newFake(t, reply{body: body})
		c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"})})
		resp, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
		if err != nil {
			t.Fatalf("usage %s: %v", tt.usage, err)
		}
		if resp.Usage != tt.want || resp.CostUSD == nil || *resp.CostUSD < 0 {
			t.Errorf("usage %s: got %+v cost %v, want %+v and a cost of at least 0", tt.usage, resp.Usage, resp.CostUSD, tt.want)
		}
	}
}

// An ollama/ model offered tools is refused before any request, saying to
// call it through Ollama's /v1 endpoint: its native client would send no
// tools, and the model would answer as if it had none.
func TestOllamaToolsSaysUseV1(t *testing.T) {
	f := newFake(t, reply{body: `{"model":"qwen3","message":{"role":"assistant","content":"no tools here"},"done":true}`})
	reg := Registry{Aliases: map[string]Alias{"local": {Model: "ollama/qwen3"}}}
	c := New(reg, Options{Getenv: envOf(map[string]string{"OLLAMA_HOST": f.URL}), Sleep: (&sleeps{}).sleep})
	tools := []Tool{{Name: "add", Parameters: map[string]any{"type": "object"}}}
	for _, tt := range []struct{ model, want string }{
		{"local", "kitaru model register local --model openai/qwen3 --base-url " + f.URL + "/v1"},
		{"ollama/qwen3", "kitaru model register NAME --model openai/qwen3 --base-url " + f.URL + "/v1"},
	} {
		_, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs(), Tools: tools})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "without tool calling") {
			t.Errorf("%s: error = %v, want it to say %q", tt.model, err, tt.want)
		}
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: error %v is retried", tt.model, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("the server got %d requests", n)
	}
	// Without tools it is called as before.
	if _, err := c.Call(context.Background(), Request{Model: "local", Messages: msgs()}); err != nil {
		t.Fatal(err)
	}
}
