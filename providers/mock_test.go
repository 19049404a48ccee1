package providers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

func TestMockAnswersWithoutNetworkOrCredentials(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	reg := Registry{Aliases: map[string]Alias{"smart": {Model: "anthropic/claude-sonnet-4-0", Secret: "nope"}}, Default: "smart"}
	tests := []struct {
		name      string
		model     string
		wantModel string
		wantAlias string
	}{
		{"unregistered alias keeps its name", "fast", "fast", ""},
		{"registered alias resolves", "smart", "anthropic/claude-sonnet-4-0", "smart"},
		{"raw model", "openai/gpt-4o", "openai/gpt-4o", ""},
		{"default alias", "", "anthropic/claude-sonnet-4-0", "smart"},
	}
	env := map[string]string{EnvMockResponse: "canned", "OPENAI_BASE_URL": srv.URL, "ANTHROPIC_BASE_URL": srv.URL}
	c := New(reg, Options{Getenv: envOf(env)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Call(context.Background(), Request{Model: tt.model, Messages: []Message{{Role: "user", Content: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != "canned" || resp.Model != tt.wantModel || resp.Alias != tt.wantAlias {
				t.Fatalf("mock = %+v", resp)
			}
			if resp.CredentialSource != CredentialNone || resp.Usage != (Usage{}) || resp.CostUSD == nil || *resp.CostUSD != 0 {
				t.Fatalf("mock usage/cost/credential = %+v", resp)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("mock reached the network %d times", hits.Load())
	}
}

// An empty KITARU_LLM_MOCK_RESPONSE is how a person turns the mock off for
// one command: it counts as unset, so the call needs real credentials.
func TestMockSetButEmptyIsOff(t *testing.T) {
	t.Setenv(EnvMockResponse, "")
	t.Setenv("OPENAI_API_KEY", "")
	resp, err := New(Registry{}, Options{}).Call(context.Background(), Request{Model: "openai/gpt-4o-mini"})
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("an empty mock answered (%+v, %v); want the missing-key error", resp, err)
	}
}

// The mock a caller falls back to and the Mock an engine without models
// uses are one: same record for the same request.
func TestMockIsTheCallersMock(t *testing.T) {
	t.Parallel()
	reg := Registry{Aliases: map[string]Alias{"fast": {Model: "openai/gpt-4o-mini"}}}
	env := envOf(map[string]string{EnvMockResponse: "canned"})
	for _, model := range []string{"fast", "openai/gpt-4o", "unknown"} {
		req := Request{Model: model}
		viaCaller, err := New(reg, Options{Getenv: env}).Call(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		direct, err := Mock{Text: "canned", Registry: reg, Getenv: env}.Call(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		viaCaller.Latency, direct.Latency = 0, 0
		if !reflect.DeepEqual(viaCaller, direct) {
			t.Errorf("%s: caller's mock %+v, Mock %+v", model, viaCaller, direct)
		}
	}
}
