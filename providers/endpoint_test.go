package providers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseHeaderValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    HeaderValue
		wantErr string
	}{
		{in: "kitaru flows", want: HeaderValue{Literal: "kitaru flows"}},
		{in: "secret:groq-creds/GROQ_API_KEY", want: HeaderValue{Secret: "groq-creds", Key: "GROQ_API_KEY"}},
		{in: "Bearer secret:groq-creds/GROQ_API_KEY", want: HeaderValue{Scheme: "Bearer", Secret: "groq-creds", Key: "GROQ_API_KEY"}},
		{in: "env:GROQ_API_KEY", want: HeaderValue{Env: "GROQ_API_KEY"}},
		{in: "Basic env:PROXY_AUTH", want: HeaderValue{Scheme: "Basic", Env: "PROXY_AUTH"}},
		// A reference written wrong is an error, never sent as written.
		{in: "secret:groq-creds", wantErr: "names no key"},
		{in: "secret:Groq/KEY", wantErr: "not valid"},
		{in: "secret:groq/bad-key", wantErr: "not valid"},
		{in: "env:", wantErr: "does not name an environment variable"},
		{in: "Bearer env:1X", wantErr: "does not name an environment variable"},
	}
	for _, tt := range tests {
		got, err := ParseHeaderValue(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHeaderValue(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHeaderValue(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestAliasEndpointChecks: what Put (the CLI) and KITARU_MODEL_REGISTRY
// accept as an alias's base URL and headers. A credential written as a
// literal is refused: the registry is copied into every run's record.
func TestAliasEndpointChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		alias   Alias
		wantErr string // "" accepts
	}{
		{name: "vllm, no headers", alias: Alias{Model: "openai/llama", BaseURL: "http://localhost:8000/v1"}},
		{name: "secret header", alias: Alias{Model: "openai/llama", BaseURL: "https://api.groq.com/openai/v1",
			Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY"}}},
		{name: "env header", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Api-Key": "env:MY_KEY"}}},
		{name: "plain headers", alias: Alias{Model: "openrouter/x/y", Headers: map[string]string{"HTTP-Referer": "https://example.com", "X-Title": "my flows"}}},

		{name: "literal bearer", alias: Alias{Model: "openai/llama", Headers: map[string]string{"Authorization": "Bearer sk-abc123def456"}},
			wantErr: "looks like a credential"},
		{name: "literal in a key header", alias: Alias{Model: "openai/llama", Headers: map[string]string{"x-api-key": "abc123def456"}},
			wantErr: "looks like a credential"},
		{name: "literal token in an ordinary header", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Custom": "Bearer abc"}},
			wantErr: "looks like a credential"},
		{name: "literal key prefix in an ordinary header", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Custom": "gsk_0123456789"}},
			wantErr: "looks like a credential"},
		{name: "broken reference", alias: Alias{Model: "openai/llama", Headers: map[string]string{"Authorization": "secret:groq-creds"}},
			wantErr: "names no key"},
		{name: "reserved header", alias: Alias{Model: "openai/llama", Headers: map[string]string{"content-type": "text/plain"}},
			wantErr: "set by kitaru itself"},
		{name: "twice in two spellings", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Title": "a", "x-title": "b"}},
			wantErr: "given twice"},
		{name: "bad name", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X Title": "a"}}, wantErr: "not valid"},
		{name: "line break", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Title": "a\r\nX-Evil: 1"}}, wantErr: "line break"},
		{name: "empty value", alias: Alias{Model: "openai/llama", Headers: map[string]string{"X-Title": " "}}, wantErr: "empty"},

		{name: "no scheme", alias: Alias{Model: "openai/llama", BaseURL: "localhost:8000/v1"}, wantErr: "http:// or https://"},
		{name: "no host", alias: Alias{Model: "openai/llama", BaseURL: "http:///v1"}, wantErr: "no host"},
		{name: "password in the URL", alias: Alias{Model: "openai/llama", BaseURL: "https://me:hunter22@example.com/v1"}, wantErr: "user name or password"},
		{name: "query", alias: Alias{Model: "openai/llama", BaseURL: "https://example.com/v1?api_key=hunter22"}, wantErr: "query"},
		{name: "fragment", alias: Alias{Model: "openai/llama", BaseURL: "https://example.com/v1#hunter22"}, wantErr: "fragment"},
		{name: "password and no http", alias: Alias{Model: "openai/llama", BaseURL: "ftp://me:hunter22@example.com/v1"}, wantErr: "http:// or https://"},
	}
	for _, tt := range tests {
		var r Registry
		_, err := r.Put("a", tt.alias)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: Put refused %+v: %v", tt.name, tt.alias, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: Put(%+v) = %v, want error containing %q", tt.name, tt.alias, err, tt.wantErr)
		}
		if tt.wantErr != "" && err != nil && strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: the error quotes the password: %v", tt.name, err)
		}
		// The same entry through KITARU_MODEL_REGISTRY gets the same answer.
		raw := registryJSON(t, Registry{Aliases: map[string]Alias{"a": tt.alias}})
		_, _, envErr := EnvRegistry(envOf(map[string]string{EnvModelRegistry: raw}))
		if (envErr == nil) != (tt.wantErr == "") {
			t.Errorf("%s: KITARU_MODEL_REGISTRY %s: %v, want refused=%v", tt.name, raw, envErr, tt.wantErr != "")
		}
	}
}

func TestLiteralCredentialErrorSaysWhatToDo(t *testing.T) {
	t.Parallel()
	var r Registry
	_, err := r.Put("groq", Alias{Model: "openai/llama", Headers: map[string]string{"authorization": "Bearer gsk_live_123456"}})
	var lc *literalCredentialError
	if !errors.As(err, &lc) {
		t.Fatalf("Put = %v, want a literalCredentialError", err)
	}
	for _, w := range []string{"models.json", "kitaru secrets set NAME --KEY=…", "--header 'Authorization=secret:NAME/KEY'"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "gsk_live") {
		t.Errorf("the error repeats the credential: %v", err)
	}
}

// TestSameTarget: a replay counts an alias moved to another server as a
// model change; a header change is not one.
func TestSameTarget(t *testing.T) {
	t.Parallel()
	base := Resolved{Model: "openai/llama", BaseURL: "http://a:8000/v1", Headers: map[string]string{"X-Title": "a"}}
	tests := []struct {
		name  string
		other Resolved
		want  bool
	}{
		{"same", base, true},
		{"other headers", Resolved{Model: "openai/llama", BaseURL: "http://a:8000/v1"}, true},
		{"other server", Resolved{Model: "openai/llama", BaseURL: "http://b:8000/v1"}, false},
		{"the provider's own server", Resolved{Model: "openai/llama"}, false},
		{"other model", Resolved{Model: "openai/qwen", BaseURL: "http://a:8000/v1"}, false},
	}
	for _, tt := range tests {
		if got := base.SameTarget(tt.other); got != tt.want {
			t.Errorf("%s: SameTarget = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func registryJSON(t *testing.T, r Registry) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
