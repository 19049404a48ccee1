package providers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/keyring"
)

// The provider keys of the environment in these tests: an alias with its
// own server must never send them.
const (
	envOpenAIKey    = "sk-env-openai-0123456789"
	envAnthropicKey = "sk-ant-env-0123456789"
)

// TestAliasEndpointRequests sends real langchaingo clients to an alias's
// own server: the request goes to the alias's base URL, carries its
// headers (references read from the secret store or the environment at
// call time), and never the provider's key from the environment.
func TestAliasEndpointRequests(t *testing.T) {
	t.Parallel()
	secrets := fakeSecrets{
		"groq-creds":  {"GROQ_API_KEY": "gsk_secret_value_42"},
		"local-creds": {"OPENAI_API_KEY": "sk-local-secret-77"},
		"proxy":       {"AUTH": "dXNlcjpwYXNzd29yZA=="},
		"ant-proxy":   {"KEY": "sk-ant-proxy-secret-5"},
	}
	tests := []struct {
		name       string
		alias      Alias
		reply      string
		path       string            // the path the server must see
		wantHeader map[string]string // "" asserts the header is absent
		wantSource string
		wantCreds  []string
	}{
		{name: "vllm without a key", alias: Alias{Model: "openai/meta-llama/Llama-3.1-8B-Instruct", BaseURL: "/vllm/v1"},
			reply: openAIReply, path: "/vllm/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "", "OpenAI-Organization": ""}, wantSource: CredentialNone},
		{name: "groq key from a secret, sent as a bearer token", alias: Alias{Model: "openai/llama-3.1-8b-instant", BaseURL: "/openai/v1",
			Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY", "X-Title": "kitaru, flows"}},
			reply: openAIReply, path: "/openai/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer gsk_secret_value_42", "X-Title": "kitaru, flows"},
			wantSource: CredentialSecret, wantCreds: []string{"gsk_secret_value_42"}},
		{name: "key from a variable", alias: Alias{Model: "openai/mistral-small", BaseURL: "/mistral/v1",
			Headers: map[string]string{"Authorization": "Bearer env:MISTRAL_API_KEY"}},
			reply: openAIReply, path: "/mistral/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer mistral-env-key-9"},
			wantSource: CredentialEnvironment, wantCreds: []string{"mistral-env-key-9"}},
		{name: "another scheme", alias: Alias{Model: "openai/llama", BaseURL: "/proxy/v1",
			Headers: map[string]string{"Proxy-Authorization": "Basic secret:proxy/AUTH"}},
			reply: openAIReply, path: "/proxy/v1/chat/completions",
			wantHeader: map[string]string{"Proxy-Authorization": "Basic dXNlcjpwYXNzd29yZA==", "Authorization": ""},
			wantSource: CredentialSecret, wantCreds: []string{"dXNlcjpwYXNzd29yZA=="}},
		{name: "the alias's linked secret, not the environment", alias: Alias{Model: "openai/llama", BaseURL: "/lm/v1", Secret: "local-creds"},
			reply: openAIReply, path: "/lm/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer sk-local-secret-77"},
			wantSource: CredentialSecret, wantCreds: []string{"sk-local-secret-77"}},
		{name: "anthropic through a proxy", alias: Alias{Model: "anthropic/claude-sonnet-4-0", BaseURL: "/ant",
			Headers: map[string]string{"X-Api-Key": "secret:ant-proxy/KEY"}},
			reply: anthropicReply, path: "/ant/v1/messages",
			wantHeader: map[string]string{"X-Api-Key": "sk-ant-proxy-secret-5"},
			wantSource: CredentialSecret, wantCreds: []string{"sk-ant-proxy-secret-5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply{body: tt.reply})
			a := tt.alias
			a.BaseURL = f.URL + a.BaseURL
			reg := Registry{Aliases: map[string]Alias{}}
			if _, err := reg.Put("ep", a); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"OPENAI_API_KEY": envOpenAIKey, "ANTHROPIC_API_KEY": envAnthropicKey,
				"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "MISTRAL_API_KEY": "mistral-env-key-9"}
			c := New(reg, Options{Getenv: envOf(env), Secrets: secrets})
			resp, err := c.Call(context.Background(), Request{Model: "ep", Messages: msgs(), MaxTokens: 50})
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
			for name, want := range tt.wantHeader {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for name, vals := range r.Header {
				for _, v := range vals {
					if strings.Contains(v, envOpenAIKey) || strings.Contains(v, envAnthropicKey) {
						t.Errorf("the environment's provider key went to the alias's server in %s", name)
					}
				}
			}
			if resp.CredentialSource != tt.wantSource {
				t.Errorf("credential source = %q, want %q", resp.CredentialSource, tt.wantSource)
			}
			if strings.Join(resp.Credentials, ",") != strings.Join(tt.wantCreds, ",") {
				t.Errorf("Credentials = %q, want %q", resp.Credentials, tt.wantCreds)
			}
			if b, _ := json.Marshal(resp); len(tt.wantCreds) > 0 && strings.Contains(string(b), tt.wantCreds[0]) {
				t.Errorf("the response serialises a header's secret value: %s", b)
			}
			// kitaru's price table is the providers' own prices: another
			// server's calls record no cost.
			if resp.CostUSD != nil {
				t.Errorf("a call to an alias's own server priced at $%v", *resp.CostUSD)
			}
			if strings.HasPrefix(a.Model, "openai/") {
				// OpenAI-compatible servers document max_tokens; some refuse
				// OpenAI's newer field.
				if r.Body["max_tokens"] != float64(50) || r.Body["max_completion_tokens"] != nil {
					t.Errorf("limit sent as max_tokens=%v max_completion_tokens=%v, want max_tokens only", r.Body["max_tokens"], r.Body["max_completion_tokens"])
				}
			}
		})
	}
}

// TestAliasHeadersOnEveryAttempt: a retried request carries the headers
// too.
func TestAliasHeadersOnEveryAttempt(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{status: http.StatusServiceUnavailable, body: `{"error":{"message":"busy"}}`}, reply{body: openAIReply})
	reg := Registry{}
	if _, err := reg.Put("ep", Alias{Model: "openai/llama", BaseURL: f.URL + "/v1", Headers: map[string]string{"Authorization": "secret:s/K", "X-Title": "t"}}); err != nil {
		t.Fatal(err)
	}
	var s sleeps
	c := New(reg, Options{Getenv: envOf(nil), Secrets: fakeSecrets{"s": {"K": "key-value-123"}}, Sleep: s.sleep})
	if _, err := c.Call(context.Background(), Request{Model: "ep", Messages: msgs()}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer key-value-123" || r.Header.Get("X-Title") != "t" {
			t.Errorf("attempt %d headers: %v", i+1, r.Header)
		}
	}
}

// TestAliasHeaderReferenceErrors: a reference that cannot be read fails
// the call before anything is sent, permanently, saying what to do.
func TestAliasHeaderReferenceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  string
		secrets keyring.Getter
		wantErr []string
	}{
		{name: "no such secret", header: "secret:groq-creds/GROQ_API_KEY", secrets: fakeSecrets{},
			wantErr: []string{`secret "groq-creds", which does not exist`, "kitaru secrets set groq-creds --GROQ_API_KEY=…"}},
		{name: "no such key", header: "secret:groq-creds/GROQ_API_KEY", secrets: fakeSecrets{"groq-creds": {"OTHER": "x"}},
			wantErr: []string{"no key GROQ_API_KEY", "kitaru secrets set groq-creds --GROQ_API_KEY=…"}},
		{name: "no secret store", header: "secret:groq-creds/GROQ_API_KEY",
			wantErr: []string{"no secret store is available", "env:VAR"}},
		{name: "variable not set", header: "env:GROQ_API_KEY", secrets: fakeSecrets{},
			wantErr: []string{"GROQ_API_KEY, which is not set"}},
		{name: "a value with a line break", header: "secret:s/K", secrets: fakeSecrets{"s": {"K": "abc\r\nX-Evil: 1"}},
			wantErr: []string{"line break"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply{body: openAIReply})
			reg := Registry{}
			if _, err := reg.Put("groq", Alias{Model: "openai/llama", BaseURL: f.URL + "/v1", Headers: map[string]string{"Authorization": tt.header}}); err != nil {
				t.Fatal(err)
			}
			opts := Options{Getenv: envOf(nil)}
			if tt.secrets != nil {
				opts.Secrets = tt.secrets
			}
			_, err := New(reg, opts).Call(context.Background(), Request{Model: "groq", Messages: msgs()})
			if err == nil {
				t.Fatal("call succeeded")
			}
			if !errors.Is(err, ErrPermanent) {
				t.Errorf("error is not permanent: %v", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
		})
	}
}

// TestAliasHeaderSecretMaskedInErrors: a server that quotes the header's
// secret in an error has it masked in the call's error, and the engine is
// handed the value to mask everywhere else.
func TestAliasHeaderSecretMaskedInErrors(t *testing.T) {
	t.Parallel()
	const value = "gsk_echoed_secret_77"
	f := newFake(t, reply{status: http.StatusUnauthorized, body: `{"error":{"message":"key Bearer ` + value + ` is not valid"}}`})
	reg := Registry{}
	if _, err := reg.Put("groq", Alias{Model: "openai/llama", BaseURL: f.URL + "/v1", Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY"}}); err != nil {
		t.Fatal(err)
	}
	_, err := New(reg, Options{Getenv: envOf(nil), Secrets: fakeSecrets{"groq-creds": {"GROQ_API_KEY": value}}}).
		Call(context.Background(), Request{Model: "groq", Messages: msgs()})
	if err == nil {
		t.Fatal("call succeeded")
	}
	if strings.Contains(err.Error(), value) {
		t.Errorf("the error quotes the secret: %v", err)
	}
	for _, w := range []string{"HTTP 401", "key Bearer *** is not valid", "check the API key that the headers of alias groq name (kitaru model show groq)"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if got := CredentialsOf(err); len(got) != 1 || got[0] != value {
		t.Errorf("CredentialsOf = %q, want the header's secret", got)
	}
}

// TestBaseURLWithoutVersionPathHint: an OpenAI-compatible base URL written
// without its /v1 gets a 404; the error says how the URL is written.
func TestBaseURLWithoutVersionPathHint(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{status: http.StatusNotFound, body: `{"error":{"message":"no route"}}`})
	tests := []struct {
		name     string
		reg      Registry
		env      map[string]string
		model    string
		wantHint string
	}{
		{name: "the variable", env: map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}, model: "openai/gpt-4o-mini",
			wantHint: "OPENAI_BASE_URL is written as the OpenAI SDK expects it, with the API's version path (http://host:port/v1)"},
		{name: "an alias", reg: Registry{Aliases: map[string]Alias{"vllm": {Model: "openai/llama", BaseURL: f.URL}}}, model: "vllm",
			wantHint: "the base URL of alias vllm (kitaru model register vllm … --base-url URL) is written as the OpenAI SDK expects it"},
	}
	for _, tt := range tests {
		_, err := New(tt.reg, Options{Getenv: envOf(tt.env)}).Call(context.Background(), Request{Model: tt.model, Messages: msgs()})
		if err == nil || !strings.Contains(err.Error(), tt.wantHint) {
			t.Errorf("%s: error %v lacks %q", tt.name, err, tt.wantHint)
		}
	}
}

// TestGeminiThroughOpenAIWire: the gemini provider is Google's
// OpenAI-compatible endpoint, spoken by langchaingo's OpenAI client.
func TestGeminiThroughOpenAIWire(t *testing.T) {
	t.Parallel()
	// Thinking counted in total_tokens, not in completion_tokens: Google
	// bills it as output.
	const geminiReply = `{"id":"g1","object":"chat.completion","created":1,"model":"gemini-2.5-flash",
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello from gemini"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":45}}`
	tests := []struct {
		name       string
		reg        Registry
		env        map[string]string
		secrets    fakeSecrets
		model      string
		wantSource string
	}{
		{name: "key from the environment", model: "gemini/gemini-2.5-flash",
			env: map[string]string{"GEMINI_API_KEY": "gemini-env-key-1"}, wantSource: CredentialEnvironment},
		{name: "key from the alias's secret", model: "flash",
			reg:     Registry{Aliases: map[string]Alias{"flash": {Model: "gemini/gemini-2.5-flash", Secret: "gemini-creds"}}},
			secrets: fakeSecrets{"gemini-creds": {"GEMINI_API_KEY": "gemini-env-key-1"}}, wantSource: CredentialSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply{body: geminiReply})
			env := map[string]string{"GEMINI_BASE_URL": f.URL + "/v1beta/openai/", "OPENAI_API_KEY": envOpenAIKey}
			for k, v := range tt.env {
				env[k] = v
			}
			c := New(tt.reg, Options{Getenv: envOf(env), Secrets: tt.secrets})
			resp, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs(), MaxTokens: 64})
			if err != nil {
				t.Fatal(err)
			}
			r := f.requests()[0]
			if r.Path != "/v1beta/openai/chat/completions" {
				t.Errorf("path = %q", r.Path)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer gemini-env-key-1" {
				t.Errorf("Authorization = %q", got)
			}
			if r.Body["model"] != "gemini-2.5-flash" || r.Body["max_tokens"] != float64(64) || r.Body["max_completion_tokens"] != nil {
				t.Errorf("body = %v", r.Body)
			}
			if sys := systemOf("gemini", r.Body); sys != "be brief" {
				t.Errorf("system message = %q", sys)
			}
			if resp.Text != "hello from gemini" || resp.Model != "gemini/gemini-2.5-flash" || resp.CredentialSource != tt.wantSource {
				t.Errorf("response = %+v", resp)
			}
			if resp.Usage != (Usage{InputTokens: 10, OutputTokens: 35}) {
				t.Errorf("usage = %+v, want 10 in and 35 out (the thinking counted)", resp.Usage)
			}
			// $0.30 and $2.50 per million.
			if want := (10*0.30 + 35*2.50) / 1e6; resp.CostUSD == nil || *resp.CostUSD != want {
				t.Errorf("cost = %v, want %v", resp.CostUSD, want)
			}
		})
	}
}

func TestGeminiDefaultEndpoint(t *testing.T) {
	t.Parallel()
	got, from := Endpoint(Alias{Model: "gemini/gemini-2.5-pro"}, envOf(nil))
	if got != "https://generativelanguage.googleapis.com/v1beta/openai" || from != "default" {
		t.Errorf("Endpoint = %q from %s", got, from)
	}
	if KeyVar("gemini/x") != "GEMINI_API_KEY" || BaseVar("gemini/x") != "GEMINI_BASE_URL" {
		t.Errorf("gemini variables: %q %q", KeyVar("gemini/x"), BaseVar("gemini/x"))
	}
	if creds := EnvCredentials(envOf(map[string]string{"GEMINI_API_KEY": "gk-123456"})); len(creds) != 1 || creds[0] != "gk-123456" {
		t.Errorf("EnvCredentials = %q: GEMINI_API_KEY is masked in every step", creds)
	}
}
