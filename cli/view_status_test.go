package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/keyring"
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
	t.Setenv("KITARU_MODEL_REGISTRY", `{"aliases": {"smart": {"model": "anthropic/claude-sonnet-4-5", "secret": "anthropic-creds"}, "fast": {"model": "openrouter/openai/gpt-4o-mini", "base_url": "http://127.0.0.1:9999/api/v1"}}, "default": "smart"}`)
	t.Setenv("UNRELATED_VARIABLE", "not shown")
	return tmp
}

// statusSetup stores what a set-up machine has: a local registry, a secret
// (file backend, so the test needs no desktop keyring) and three runs.
func statusSetup(t *testing.T, backend string) {
	t.Helper()
	t.Setenv("KITARU_SECRETS_BACKEND", backend)
	reg := providers.Registry{}
	if _, err := reg.Register("fast", "openai/gpt-4o-mini", "openai-creds"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register("local", "ollama/llama3.2", ""); err != nil {
		t.Fatal(err)
	}
	if err := providers.SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	if backend == "file" {
		st, err := keyring.Open(keyring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Set("openai-creds", map[string]string{"OPENAI_API_KEY": "sk-stored-SECRETVALUE"}); err != nil {
			t.Fatal(err)
		}
	}
	flow, err := flowspec.Parse("tiny.yaml", []byte("name: tiny\nsteps:\n  one: {kind: checkpoint, value: done}\n"), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.Default()
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: st})
	for range 3 {
		if _, err := eng.Start(context.Background(), engine.StartOptions{Flow: flow, Inputs: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
}

func runStatus(t *testing.T, tmp string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, IO{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := strings.ReplaceAll(out.String(), tmp, "$TMP")
	got = strings.ReplaceAll(got, Version, "$VERSION")
	for _, secret := range []string{"0123456789abcdef", "short", "abcdefghijklmnop", "SECRETVALUE"} {
		if strings.Contains(got, secret) {
			t.Errorf("status shows the secret value %q:\n%s", secret, got)
		}
	}
	return got
}

func TestStatusGolden(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			tmp := statusEnv(t)
			statusSetup(t, "file")
			args := []string{"status"}
			if format == "json" {
				args = append(args, "--json")
			}
			got := runStatus(t, tmp, args...)
			checkGolden(t, "view/status_"+format+".golden", got)
			if format == "json" {
				var rep statusReport
				if err := json.Unmarshal([]byte(got), &rep); err != nil {
					t.Fatalf("--json output is not JSON: %v", err)
				}
			}
		})
	}
}

// Without a reachable keyring, status says so and what to do, and still
// reports everything else.
func TestStatusKeyringUnreachable(t *testing.T) {
	if os.Getenv("KITARU_TEST_SECRET_SERVICE") != "" {
		t.Skip("a Secret Service is running for this test run")
	}
	tmp := statusEnv(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	statusSetup(t, "os")
	got := runStatus(t, tmp, "status")
	i := strings.Index(got, "keyring      not reachable (os backend)\n")
	if i < 0 {
		t.Fatalf("status does not say the keyring is unreachable:\n%s", got)
	}
	if explanation := got[i:]; !strings.HasPrefix(strings.SplitN(explanation, "\n", 3)[1], "             ") {
		t.Errorf("no explanation under the keyring line:\n%s", got)
	}
	for _, want := range []string{"runs stored  3", "fast   openai/gpt-4o-mini"} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	t.Setenv("KITARU_SECRETS_BACKEND", "")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	got = runStatus(t, tmp, "status")
	if want := "secrets      none (none can be stored until the keyring above is reachable)"; !strings.Contains(got, want) {
		t.Errorf("status without a keyring lacks %q:\n%s", want, got)
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
		{"KITARU_SECRETS_BACKEND", "file", "file"},
		{"OPENAI_BASE_URL", "https://me:hunter2@proxy.example/v1", "https://me:…@proxy.example/v1"},
		{"OLLAMA_HOST", "http://127.0.0.1:11434", "http://127.0.0.1:11434"},
		{"GITHUB_PAT", "ghp_0123456789abcdef", "ghp…"},
		{"KITARU_LLM_MOCK_RESPONSE", "line one\nline two", `line one\nline two`},
		{"KITARU_LLM_MOCK_RESPONSE", strings.Repeat("a", 100), strings.Repeat("a", 79) + "…"},
	}
	for _, tc := range tests {
		if got := maskEnvValue(tc.name, tc.value); got != tc.want {
			t.Errorf("maskEnvValue(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

// A fresh machine: nothing registered, nothing stored; status says what to
// do first.
func TestStatusFreshMachine(t *testing.T) {
	tmp := statusEnv(t)
	os.Unsetenv("KITARU_MODEL_REGISTRY")
	os.Unsetenv("OPENAI_API_KEY")
	t.Setenv("KITARU_SECRETS_BACKEND", "file")
	got := runStatus(t, tmp, "status")
	for _, want := range []string{
		"secrets      none (store one with `kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...`)",
		"runs stored  0",
		"  none: register one with `kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
}

// Under a real Secret Service (make test-keyring), status finds the OS
// keyring reachable.
func TestSecretServiceStatus(t *testing.T) {
	if os.Getenv("KITARU_TEST_SECRET_SERVICE") != "1" {
		t.Skip("needs a Secret Service: run make test-keyring")
	}
	tmp := statusEnv(t)
	t.Setenv("KITARU_SECRETS_BACKEND", "os")
	got := runStatus(t, tmp, "status")
	if !strings.Contains(got, "keyring      reachable (os backend)\n") {
		t.Errorf("status does not find the Secret Service:\n%s", got)
	}
}

// A broken setting is what status is run for: it is reported, not fatal.
func TestStatusReportsABrokenRegistry(t *testing.T) {
	tmp := statusEnv(t)
	t.Setenv("KITARU_SECRETS_BACKEND", "file")
	t.Setenv("KITARU_MODEL_REGISTRY", `{"aliases": {"fast": `)
	got := runStatus(t, tmp, "status", "--json")
	var rep statusReport
	if err := json.Unmarshal([]byte(got), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "KITARU_MODEL_REGISTRY") {
		t.Errorf("problems = %q, want one naming KITARU_MODEL_REGISTRY", rep.Problems)
	}
	if rep.Runs == nil || *rep.Runs != 0 || !rep.Keyring.Reachable {
		t.Errorf("the rest of the report is missing: %+v", rep)
	}
}

func TestStatusHelpHasAnExample(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"status", "--help"}, IO{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "    kitaru status --json") {
		t.Errorf("status --help shows no example:\n%s", out.String())
	}
}
