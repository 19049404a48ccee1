package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

// TestModelRegisterEndpoint: --base-url and --header as a person types
// them, what is stored, what is refused and why.
func TestModelRegisterEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
		want     *providers.Alias // stored as; nil when refused
	}{
		{name: "groq with a secret header",
			args: []string{"groq", "--model", "openai/llama-3.1-8b-instant", "--base-url", "https://api.groq.com/openai/v1/",
				"--header", "authorization=secret:groq-creds/GROQ_API_KEY", "--header", "X-Title=my flows, daily"},
			wantOut: []string{"Registered alias groq → openai/llama-3.1-8b-instant at https://api.groq.com/openai/v1 (headers Authorization=secret:groq-creds/GROQ_API_KEY, X-Title=my flows, daily)",
				"no price for openai/llama-3.1-8b-instant at https://api.groq.com/openai/v1"},
			wantErr: []string{"secret groq-creds does not exist yet; create it with: kitaru secrets set groq-creds --GROQ_API_KEY=…"},
			want: &providers.Alias{Model: "openai/llama-3.1-8b-instant", BaseURL: "https://api.groq.com/openai/v1",
				Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY", "X-Title": "my flows, daily"}}},
		{name: "a local server without a key",
			args:    []string{"vllm", "--model", "openai/llama", "--base-url", "http://localhost:8000/v1"},
			wantOut: []string{"No key is sent to http://localhost:8000/v1 (fine for a local server)"},
			want:    &providers.Alias{Model: "openai/llama", BaseURL: "http://localhost:8000/v1"}},
		{name: "a price for another server",
			args:    []string{"groq", "--model", "openai/llama", "--base-url", "https://api.groq.com/openai/v1", "--header", "Authorization=env:GROQ_API_KEY", "--input-price", "0.05", "--output-price", "0.08"},
			wantOut: []string{"$0.05 per million input tokens"},
			want: &providers.Alias{Model: "openai/llama", BaseURL: "https://api.groq.com/openai/v1", Headers: map[string]string{"Authorization": "env:GROQ_API_KEY"},
				Price: &providers.Price{InputPerMTok: 0.05, OutputPerMTok: 0.08}}},
		{name: "gemini", args: []string{"flash", "--model", "gemini/gemini-2.5-flash"},
			wantOut: []string{"Registered alias flash → gemini/gemini-2.5-flash", "calls will need GEMINI_API_KEY in the environment"},
			want:    &providers.Alias{Model: "gemini/gemini-2.5-flash"}},

		{name: "a literal bearer token", args: []string{"groq", "--model", "openai/llama", "--header", "Authorization=Bearer gsk_live_0123456789"},
			wantCode: ExitUsage, wantErr: []string{"looks like a credential", "--header 'Authorization=secret:NAME/KEY'"}},
		{name: "a literal key", args: []string{"groq", "--model", "openai/llama", "--header", "X-Api-Key=0123456789abcdef"},
			wantCode: ExitUsage, wantErr: []string{"header X-Api-Key looks like a credential"}},
		{name: "no value", args: []string{"groq", "--model", "openai/llama", "--header", "X-Title"},
			wantCode: ExitUsage, wantErr: []string{`--header "X-Title" is not NAME=VALUE`}},
		{name: "twice", args: []string{"groq", "--model", "openai/llama", "--header", "X-Title=a", "--header", "X-Title=b"},
			wantCode: ExitUsage, wantErr: []string{"--header X-Title is given twice"}},
		{name: "a broken reference", args: []string{"groq", "--model", "openai/llama", "--header", "Authorization=secret:groq-creds"},
			wantCode: ExitUsage, wantErr: []string{"names no key: write secret:NAME/KEY"}},
		{name: "a password in the URL", args: []string{"groq", "--model", "openai/llama", "--base-url", "https://me:hunter22@example.com/v1"},
			wantCode: ExitUsage, wantErr: []string{"carries a user name or password"}},
		{name: "no scheme", args: []string{"vllm", "--model", "openai/llama", "--base-url", "localhost:8000/v1"},
			wantCode: ExitUsage, wantErr: []string{"must start with http:// or https://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelTestEnv(t)
			t.Setenv("KITARU_SECRETS_BACKEND", "file")
			code, out, errOut := runModel(t, append([]string{"model", "register"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q lacks %q", out, w)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if strings.Contains(out+errOut, "hunter22") || strings.Contains(out+errOut, "gsk_live") {
				t.Errorf("a refused credential was printed back:\n%s%s", out, errOut)
			}
			reg, err := providers.LoadLocal()
			if err != nil {
				t.Fatal(err)
			}
			got, stored := reg.Aliases[tt.args[0]]
			switch {
			case tt.want == nil && stored:
				t.Errorf("a refused alias was stored: %+v", got)
			case tt.want != nil && !reflect.DeepEqual(got, *tt.want):
				t.Errorf("stored %+v, want %+v", got, *tt.want)
			}
		})
	}
}

// TestModelListShowEndpoint: list and show give the base URL and the
// headers as registered (a reference, never a value), from models.json and
// from KITARU_MODEL_REGISTRY alike.
func TestModelListShowEndpoint(t *testing.T) {
	modelTestEnv(t)
	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("GEMINI_BASE_URL", "")
	for _, args := range [][]string{
		{"model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret", "openai-creds"},
		{"model", "register", "groq", "--model", "openai/llama-3.1-8b-instant", "--base-url", "https://api.groq.com/openai/v1",
			"--header", "Authorization=secret:groq-creds/GROQ_API_KEY"},
	} {
		if code, _, errOut := runModel(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	t.Setenv(providers.EnvModelRegistry, `{"aliases": {"team": {"model": "openai/qwen", "base_url": "http://gpu:8000/v1", "headers": {"X-Api-Key": "env:TEAM_KEY"}}}}`)

	code, out, errOut := runModel(t, "model", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"BASE URL", "HEADERS", "https://api.groq.com/openai/v1", "Authorization=secret:groq-creds/GROQ_API_KEY", "http://gpu:8000/v1", "X-Api-Key=env:TEAM_KEY"} {
		if !strings.Contains(out, w) {
			t.Errorf("model list lacks %q:\n%s", w, out)
		}
	}

	code, out, _ = runModel(t, "model", "list", "--json")
	var list struct {
		Aliases []modelEntry `json:"aliases"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("list --json: exit %d, %v\n%s", code, err, out)
	}
	want := []modelEntry{
		{Alias: "fast", Model: "openai/gpt-4o-mini", Secret: "openai-creds", Default: true, Source: "local"},
		{Alias: "groq", Model: "openai/llama-3.1-8b-instant", Source: "local", BaseURL: "https://api.groq.com/openai/v1",
			Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY"}},
		{Alias: "team", Model: "openai/qwen", Source: providers.EnvModelRegistry, BaseURL: "http://gpu:8000/v1", Headers: map[string]string{"X-Api-Key": "env:TEAM_KEY"}},
	}
	if !reflect.DeepEqual(list.Aliases, want) {
		t.Errorf("list --json = %+v\nwant %+v", list.Aliases, want)
	}

	shows := []struct {
		alias string
		want  []string
	}{
		{"groq", []string{"endpoint  https://api.groq.com/openai/v1 (the alias's --base-url)", "headers   Authorization: secret:groq-creds/GROQ_API_KEY",
			"key       header Authorization from key GROQ_API_KEY of secret groq-creds", "price     unknown"}},
		{"fast", []string{"alias     fast (the default), from local", "endpoint  https://api.openai.com/v1 (the provider's default)",
			"key       OPENAI_API_KEY in the environment, then key OPENAI_API_KEY of secret openai-creds", "price     $0.15 in, $0.6 out per million tokens"}},
		{"team", []string{"from KITARU_MODEL_REGISTRY", "endpoint  http://gpu:8000/v1", "header X-Api-Key from TEAM_KEY in the environment"}},
	}
	for _, s := range shows {
		code, out, errOut := runModel(t, "model", "show", s.alias)
		if code != 0 {
			t.Fatalf("show %s: exit %d: %s", s.alias, code, errOut)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("model show %s lacks %q:\n%s", s.alias, w, out)
			}
		}
	}
	t.Setenv("OPENAI_BASE_URL", "http://stand-in:9/v1")
	if _, out, _ := runModel(t, "model", "show", "fast"); !strings.Contains(out, "endpoint  http://stand-in:9/v1 (OPENAI_BASE_URL)") {
		t.Errorf("show does not name the variable that moved the endpoint:\n%s", out)
	}
	if code, _, errOut := runModel(t, "model", "show", "grok"); code != ExitUsage || !strings.Contains(errOut, `did you mean "groq"`) {
		t.Errorf("show of an unknown alias: exit %d, %s", code, errOut)
	}

	// A literal credential in the variable is refused like one typed.
	t.Setenv(providers.EnvModelRegistry, `{"aliases": {"team": {"model": "openai/qwen", "headers": {"Authorization": "Bearer sk-team-0123456789"}}}}`)
	if code, _, errOut := runModel(t, "model", "list"); code != ExitUsage || !strings.Contains(errOut, "looks like a credential") {
		t.Errorf("a literal credential in %s: exit %d, %s", providers.EnvModelRegistry, code, errOut)
	}
}

// The registry file holds references and the base URL, never a value.
func TestModelRegisterEndpointFile(t *testing.T) {
	dir := modelTestEnv(t)
	code, _, errOut := runModel(t, "model", "register", "groq", "--model", "openai/llama", "--base-url", "https://api.groq.com/openai/v1",
		"--header", "Authorization=secret:groq-creds/GROQ_API_KEY")
	if code != 0 {
		t.Fatal(errOut)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "kitaru", "models.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Aliases map[string]map[string]any `json:"aliases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	g := file.Aliases["groq"]
	if g["base_url"] != "https://api.groq.com/openai/v1" || !reflect.DeepEqual(g["headers"], map[string]any{"Authorization": "secret:groq-creds/GROQ_API_KEY"}) {
		t.Errorf("models.json holds %s", raw)
	}
}
