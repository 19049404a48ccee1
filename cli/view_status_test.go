package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

// statusEnv gives the test a private home with the variables of a typical
// set-up: a real-looking key, a base URL, a registry overlay.
func statusEnv(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KITARU_") || providerVars[name] || strings.HasSuffix(name, "_BASE_URL") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("KITARU_HOME", tmp+"/state")
	t.Setenv("XDG_CONFIG_HOME", tmp+"/config")
	t.Setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
	t.Setenv("ANTHROPIC_API_KEY", "short")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
	t.Setenv("KITARU_WEBHOOK_TOKEN", "tok-abcdefghijklmnop")
	t.Setenv("KITARU_MODEL_REGISTRY", `{"aliases": {"smart": {"model": "anthropic/claude-sonnet-4-5", "secret": "anthropic-creds"}, "fast": {"model": "openrouter/openai/gpt-4o-mini"}}, "default": "smart"}`)
	t.Setenv("UNRELATED_VARIABLE", "not shown")
	return tmp
}

// fakeStatusSources stands in for the packages whose parts have not landed;
// the real wiring replaces these seams.
func fakeStatusSources(t *testing.T, keyErr error) {
	t.Helper()
	saved := []any{statusKeyringCheck, statusRegistries, statusRunCount}
	t.Cleanup(func() {
		statusKeyringCheck = saved[0].(func() (string, error))
		statusRegistries = saved[1].(func(func(string) string) (providers.Registry, providers.Registry, bool, error))
		statusRunCount = saved[2].(func(context.Context) (int, error))
	})
	statusKeyringCheck = func() (string, error) { return "os", keyErr }
	statusRegistries = func(getenv func(string) string) (providers.Registry, providers.Registry, bool, error) {
		local := providers.Registry{Default: "fast", Aliases: map[string]providers.Alias{
			"fast":  {Model: "openai/gpt-4o-mini", Secret: "openai-creds"},
			"local": {Model: "ollama/llama3.2"},
		}}
		var env providers.Registry
		if err := json.Unmarshal([]byte(getenv(envRegistryVar)), &env); err != nil {
			return local, env, false, err
		}
		return local, env, true, nil
	}
	statusRunCount = func(context.Context) (int, error) { return 3, nil }
}

func TestStatusGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		keyErr error
	}{
		{"text", []string{"status"}, nil},
		{"json", []string{"status", "--json"}, nil},
		{"keyring_down", []string{"status"}, errors.New("the OS keyring is not reachable: no D-Bus session bus.\nStart a desktop session, or set KITARU_SECRETS_BACKEND=file to keep secrets in a file (not encrypted).")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := statusEnv(t)
			fakeStatusSources(t, tc.keyErr)
			var out, errOut bytes.Buffer
			code := run(tc.args, IO{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			got := strings.ReplaceAll(out.String(), tmp, "$TMP")
			got = strings.ReplaceAll(got, Version, "$VERSION")
			checkGolden(t, "view/status_"+tc.name+".golden", got)
			for _, secret := range []string{"0123456789abcdef", "short", "abcdefghijklmnop"} {
				if strings.Contains(got, secret) {
					t.Errorf("status shows the secret value %q", secret)
				}
			}
			if tc.name == "json" {
				var rep statusReport
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("--json output is not JSON: %v", err)
				}
			}
		})
	}
}

func TestMaskEnvValue(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"OPENAI_API_KEY", "sk-proj-abcdefghijkl", "sk-…"},
		{"ANTHROPIC_API_KEY", "sk-ant", "…"},
		{"KITARU_WEBHOOK_TOKEN", "x", "…"},
		{"MY_SECRET", "0123456789abcdef", "012…"},
		{"OPENAI_BASE_URL", "http://localhost:8080/v1", "http://localhost:8080/v1"},
		{"KITARU_HOME", "/tmp/k", "/tmp/k"},
		{"KITARU_LLM_MOCK_RESPONSE", "line one\nline two", `line one\nline two`},
		{"KITARU_LLM_MOCK_RESPONSE", strings.Repeat("a", 100), strings.Repeat("a", 79) + "…"},
	}
	for _, tc := range tests {
		if got := maskEnvValue(tc.name, tc.value); got != tc.want {
			t.Errorf("maskEnvValue(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}
