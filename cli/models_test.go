package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

// runModel runs kitaru with args and returns exit code, stdout, stderr.
func runModel(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, IO{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	return code, out.String(), errb.String()
}

func modelTestEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(providers.EnvModelRegistry, "")
	t.Setenv(providers.EnvDefaultModel, "")
	return dir
}

func TestModelRegisterListRemoveDefault(t *testing.T) {
	dir := modelTestEnv(t)
	steps := []struct {
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{args: []string{"model", "list"}, wantOut: []string{"No model aliases yet", "kitaru model register fast"}},
		{args: []string{"model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds"},
			wantOut: []string{"Registered alias fast → openai/gpt-4o-mini (secret openai-creds); it is the default"}},
		{args: []string{"model", "register", "smart", "--model", "anthropic/claude-sonnet-4-0"},
			wantOut: []string{"Registered alias smart → anthropic/claude-sonnet-4-0\n", "ANTHROPIC_API_KEY"}},
		{args: []string{"model", "register", "fast", "--model", "openai/gpt-4o"},
			wantOut: []string{"Replaced alias fast: was openai/gpt-4o-mini (secret openai-creds), now openai/gpt-4o; it is the default"}},
		{args: []string{"model", "register", "local", "--model", "ollama/llama3.2"}, wantOut: []string{"Registered alias local → ollama/llama3.2\n"}},
		{args: []string{"model", "list"}, wantOut: []string{"ALIAS", "fast", "openai/gpt-4o", "smart", "local"}},
		{args: []string{"model", "default", "smart"}, wantOut: []string{"Default model alias is now smart → anthropic/claude-sonnet-4-0"}},
		{args: []string{"model", "default", "smrt"}, wantCode: ExitUsage, wantErr: []string{`did you mean "smart"`}},
		{args: []string{"model", "remove", "smart"}, wantOut: []string{"Removed alias smart", "no default alias now"}},
		{args: []string{"model", "remove", "smart"}, wantCode: ExitUsage, wantErr: []string{`"smart" is not registered`}},
		{args: []string{"model", "register", "Bad", "--model", "openai/gpt-4o"}, wantCode: ExitUsage, wantErr: []string{"lowercase"}},
		{args: []string{"model", "register", "x", "--model", "mistral/large"}, wantCode: ExitUsage, wantErr: []string{"openai, anthropic, ollama, openrouter, gemini"}},
		{args: []string{"model", "register", "x"}, wantCode: ExitUsage, wantErr: []string{"--model"}},
	}
	for _, s := range steps {
		code, out, errOut := runModel(t, s.args...)
		if code != s.wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", s.args, code, s.wantCode, out, errOut)
		}
		for _, w := range s.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout %q lacks %q", s.args, out, w)
			}
		}
		for _, w := range s.wantErr {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", s.args, errOut, w)
			}
		}
	}
	reg, err := providers.LoadLocal()
	if err != nil {
		t.Fatal(err)
	}
	if reg.Default != "" || len(reg.Aliases) != 2 || reg.Aliases["fast"].Model != "openai/gpt-4o" {
		t.Fatalf("stored registry = %+v", reg)
	}
	fi, err := os.Stat(filepath.Join(dir, "kitaru", "models.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("models.json: %v, mode %v", err, fi.Mode())
	}
}

func TestModelListJSONWithOverlay(t *testing.T) {
	modelTestEnv(t)
	if code, _, errOut := runModel(t, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds"); code != 0 {
		t.Fatal(errOut)
	}
	runModel(t, "model", "register", "local", "--model", "ollama/llama3.2")
	t.Setenv(providers.EnvModelRegistry, `{"aliases": {"fast": {"model": "anthropic/claude-3-5-haiku-latest"}, "team": {"model": "openrouter/meta-llama/llama-3.1-8b-instruct"}}, "default": "team"}`)
	code, out, errOut := runModel(t, "model", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Default string       `json:"default"`
		Aliases []modelEntry `json:"aliases"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	want := []modelEntry{
		{Alias: "fast", Model: "anthropic/claude-3-5-haiku-latest", Source: providers.EnvModelRegistry},
		{Alias: "local", Model: "ollama/llama3.2", Source: "local"},
		{Alias: "team", Model: "openrouter/meta-llama/llama-3.1-8b-instruct", Default: true, Source: providers.EnvModelRegistry},
	}
	if got.Default != "team" || len(got.Aliases) != len(want) {
		t.Fatalf("list = %+v", got)
	}
	for i := range want {
		if !reflect.DeepEqual(got.Aliases[i], want[i]) {
			t.Errorf("entry %d = %+v, want %+v", i, got.Aliases[i], want[i])
		}
	}

	code, out, _ = runModel(t, "model", "list")
	if code != 0 || !strings.Contains(out, providers.EnvModelRegistry) {
		t.Fatalf("text list should mark overlay aliases: %s", out)
	}
	code, _, errOut = runModel(t, "model", "remove", "team")
	if code != ExitUsage || !strings.Contains(errOut, "comes from "+providers.EnvModelRegistry) {
		t.Fatalf("removing an overlay alias: exit %d, %s", code, errOut)
	}

	t.Setenv(providers.EnvModelRegistry, `{"aliases": `)
	code, _, errOut = runModel(t, "model", "list")
	if code != ExitUsage || !strings.Contains(errOut, providers.EnvModelRegistry) {
		t.Fatalf("bad overlay: exit %d, %s", code, errOut)
	}
}

func TestModelRegisterJSON(t *testing.T) {
	modelTestEnv(t)
	code, out, errOut := runModel(t, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--json")
	if code != 0 {
		t.Fatal(errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %s", out)
	}
	if got["alias"] != "fast" || got["model"] != "openai/gpt-4o-mini" || got["default"] != true || got["replaced"] != false {
		t.Fatalf("register --json = %v", got)
	}
}

func TestModelHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{{"model", "--help"}, {"model", "register", "--help"}, {"model", "list", "--help"}, {"model", "show", "--help"}, {"model", "remove", "--help"}, {"model", "default", "--help"}} {
		code, out, _ := runModel(t, args...)
		if code != 0 || !strings.Contains(out, "Example") || !strings.Contains(out, "kitaru model") {
			t.Errorf("%v: exit %d, help lacks an example:\n%s", args, code, out)
		}
	}
}

func TestModelListGolden(t *testing.T) {
	modelTestEnv(t)
	runModel(t, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds")
	runModel(t, "model", "register", "local", "--model", "ollama/llama3.2")
	t.Setenv(providers.EnvModelRegistry, `{"aliases": {"team": {"model": "openrouter/meta-llama/llama-3.1-8b-instruct", "secret": "or-creds"}}}`)
	t.Setenv(providers.EnvDefaultModel, "team")
	code, out, errOut := runModel(t, "model", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkGolden(t, "providers/model_list.golden", out)
	code, out, errOut = runModel(t, "model", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkGolden(t, "providers/model_list.json.golden", out)
}

func TestModelRegisterSecretNotes(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"missing secret, a store to put it in", map[string]string{"KITARU_SECRETS_BACKEND": "file"},
			[]string{"fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds"},
			"secret openai-creds does not exist yet; create it with: kitaru secrets set openai-creds --OPENAI_API_KEY=…"},
		{"missing secret, no keyring reachable", map[string]string{"KITARU_SECRETS_BACKEND": "", "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
			[]string{"fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds"},
			"the OS keyring is not reachable here to store it (see `kitaru status`);\nexport OPENAI_API_KEY=… instead"},
		{"a model without a key", nil,
			[]string{"local", "--model", "ollama/llama3.2", "--secret", "openai-creds"},
			"needs no API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, errOut := runModel(t, append([]string{"model", "register"}, tt.args...)...)
			if code != 0 || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %q", code, errOut, tt.wantErr)
			}
		})
	}
}

func TestModelRegisterSecretKeyCheck(t *testing.T) {
	modelTestEnv(t)
	t.Setenv("KITARU_SECRETS_BACKEND", "file")
	t.Setenv("KITARU_HOME", t.TempDir())
	if code, _, errOut := runModel(t, "secrets", "set", "creds", "--ANTHROPIC_API_KEY=sk-ant-test"); code != 0 {
		t.Skipf("cannot create a file secret here: %s", errOut)
	}
	code, _, errOut := runModel(t, "model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "creds")
	if code != 0 || !strings.Contains(errOut, "secret creds has no key OPENAI_API_KEY yet") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runModel(t, "model", "register", "smart", "--model", "anthropic/claude-sonnet-4-0", "--secret", "creds")
	if code != 0 || strings.Contains(errOut, "Note: secret") {
		t.Fatalf("a fitting secret should need no note: exit %d, stderr %q", code, errOut)
	}
}

func TestModelRegisterPrice(t *testing.T) {
	modelTestEnv(t)
	code, out, errOut := runModel(t, "model", "register", "cheap", "--model", "openrouter/x/y", "--input-price", "0.02", "--output-price", "0")
	if code != 0 || !strings.Contains(out, "$0.02 per million input tokens and $0 per million output") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	reg, err := providers.LoadLocal()
	if err != nil {
		t.Fatal(err)
	}
	if p := reg.Aliases["cheap"].Price; p == nil || p.InputPerMTok != 0.02 || p.OutputPerMTok != 0 {
		t.Fatalf("stored price = %+v", p)
	}
	code, out, _ = runModel(t, "model", "register", "odd", "--model", "openrouter/x/y")
	if code != 0 || !strings.Contains(out, "no price for openrouter/x/y") {
		t.Fatalf("unknown price should be pointed out: %s", out)
	}
	for _, args := range [][]string{
		{"model", "register", "a", "--model", "openai/gpt-4o", "--input-price", "1"},
		{"model", "register", "a", "--model", "openai/gpt-4o", "--input-price", "-1", "--output-price", "1"},
	} {
		if code, _, errOut := runModel(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errOut, ExitUsage)
		}
	}
}
