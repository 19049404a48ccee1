package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

func TestFlowWarnings(t *testing.T) {
	t.Parallel()
	reg := providers.Registry{Aliases: map[string]providers.Alias{
		"fast":  {Model: "openai/gpt-4o-mini", Secret: "openai-creds"},
		"local": {Model: "ollama/llama3.2"},
	}}
	hook := []keyring.Secret{{Name: "webhook", Keys: []string{"TOKEN"}}}
	both := append(hook, keyring.Secret{Name: "openai-creds", Keys: []string{"OPENAI_API_KEY"}})
	const flow = `name: w
steps:
  a:
    kind: llm
    model: %s
    prompt: hi
  b:
    kind: checkpoint
    run: echo hi
    secrets: [webhook]
  c:
    kind: llm
    model: %s
    prompt: again
`
	tests := []struct {
		name    string
		model   string
		stored  []keyring.Secret // nil: the index cannot be read
		env     map[string]string
		want    []string // one substring per warning, in order
		wantPos []int    // the line of each
	}{
		{name: "bare model name", model: "gpt-4o", stored: hook,
			want:    []string{`model alias "gpt-4o" is not registered on this machine (registered: fast, local) | write model: openai/gpt-4o`},
			wantPos: []int{5}},
		{name: "typo of an alias", model: "fsat", stored: both,
			want: []string{`did you mean "fast"? | kitaru model register fsat --model PROVIDER/MODEL`}, wantPos: []int{5}},
		{name: "all there", model: "fast", stored: both},
		{name: "provider/model", model: "openai/gpt-4o", stored: hook},
		{name: "alias secret missing", model: "fast", stored: hook,
			want: []string{`alias "fast" reads its key from secret "openai-creds" | kitaru secrets set openai-creds --OPENAI_API_KEY=…`}, wantPos: []int{5}},
		{name: "alias secret lacks the key", model: "fast", stored: append(hook, keyring.Secret{Name: "openai-creds", Keys: []string{"ANTHROPIC_API_KEY"}}),
			want: []string{`reads its key OPENAI_API_KEY from secret "openai-creds", which has no such key | kitaru secrets set openai-creds --OPENAI_API_KEY=…`}, wantPos: []int{5}},
		{name: "environment gives the key", model: "fast", stored: hook, env: map[string]string{"OPENAI_API_KEY": "k"}},
		{name: "alias needs no key", model: "local", stored: []keyring.Secret{}, want: []string{`secret "webhook" does not exist | kitaru secrets set webhook --KEY=VALUE`}, wantPos: []int{10}},
		{name: "index unreadable", model: "local", stored: nil},
		{name: "mock on", model: "gpt-4o", stored: hook, env: map[string]string{providers.EnvMockResponse: "hi"}},
		{name: "mock off when empty", model: "nope", stored: hook, env: map[string]string{providers.EnvMockResponse: ""},
			want: []string{`"nope" is not registered`}, wantPos: []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := tt.model
			src := strings.ReplaceAll(strings.Replace(flow, "%s", tt.model, 1), "%s", other)
			f, err := flowspec.Parse("w.yaml", []byte(src), flowspec.Options{CheckModel: providers.CheckModel})
			if err != nil {
				t.Fatal(err)
			}
			m := machine{
				registry: func() (providers.Registry, error) { return reg, nil },
				secrets:  func() ([]keyring.Secret, bool) { return tt.stored, tt.stored != nil },
				getenv:   func(k string) string { return tt.env[k] },
			}
			got := flowWarnings(f, m)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %+v, want %d", got, len(tt.want))
			}
			for i, w := range got {
				text := w.Message + " | " + w.Fix
				for _, part := range strings.Split(tt.want[i], " | ") {
					if !strings.Contains(text, part) {
						t.Errorf("warning %d = %q; want %q in it", i, text, part)
					}
				}
				if w.Line != tt.wantPos[i] {
					t.Errorf("warning %d at line %d, want %d", i, w.Line, tt.wantPos[i])
				}
				if strings.Contains(text, "gpt-4o-mini --secret") {
					t.Errorf("warning %d suggests a model the user did not pick: %q", i, text)
				}
			}
		})
	}
}

// An llm step naming no model, on a machine with no default alias, is
// warned about once, at the first such step; a default, the variable or
// the mock silences it.
func TestUnnamedModelWarning(t *testing.T) {
	t.Parallel()
	const src = "name: u\nsteps:\n  a: {kind: checkpoint, value: x}\n  b: {kind: llm, prompt: hi}\n  c: {kind: llm, prompt: again}\n"
	f, err := flowspec.Parse("u.yaml", []byte(src), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		reg  providers.Registry
		env  map[string]string
		want int
	}{
		{name: "no default", reg: providers.Registry{}, want: 1},
		{name: "a default alias", reg: providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/gpt-4o-mini"}}, Default: "fast"}},
		{name: "the variable", env: map[string]string{providers.EnvDefaultModel: "openai/gpt-4o-mini"}},
		{name: "the mock", env: map[string]string{providers.EnvMockResponse: "hi"}},
	} {
		m := machine{
			registry: func() (providers.Registry, error) { return tt.reg, nil },
			secrets:  func() ([]keyring.Secret, bool) { return nil, false },
			getenv:   func(k string) string { return tt.env[k] },
		}
		got := flowWarnings(f, m)
		if len(got) != tt.want {
			t.Errorf("%s: warnings %+v, want %d", tt.name, got, tt.want)
			continue
		}
		if tt.want == 1 && (got[0].Line != 4 || !strings.Contains(got[0].Message, `"b" names no model`)) {
			t.Errorf("%s: %+v; want it at step b, line 4", tt.name, got[0])
		}
	}
}

// onlyWarnings checks that stderr holds nothing but warnings (as
// printWarnings writes them), each holding one of allowed.
func onlyWarnings(stderr string, allowed ...string) error {
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "  ") {
			continue // a warning's fix
		}
		ok := strings.Contains(line, ": warning: ")
		if ok {
			ok = false
			for _, a := range allowed {
				ok = ok || strings.Contains(line, a)
			}
		}
		if !ok {
			return fmt.Errorf("unexpected on stderr: %q", line)
		}
	}
	return nil
}

// An llm step offering tools to an ollama/ model, named or through an
// alias, is warned about at the step; one without tools, or with the mock
// on, is not.
func TestOllamaToolsWarning(t *testing.T) {
	t.Parallel()
	reg := providers.Registry{Default: "local", Aliases: map[string]providers.Alias{
		"local": {Model: "ollama/qwen3"}, "fast": {Model: "openai/gpt-4o-mini"}}}
	tests := []struct {
		name, model, tools string
		env                map[string]string
		want               string
	}{
		{"alias", "model: local", "tools: [add]", nil, `llm step "s" offers tools to ollama/qwen3 | kitaru model register local --model openai/qwen3 --base-url http://localhost:11434/v1`},
		{"provider/model", "model: ollama/llama3.2", "tools: [add]", nil, "kitaru model register NAME --model openai/llama3.2"},
		{"the default", "", "tools: [add]", nil, "offers tools to ollama/qwen3"},
		{"a fallback", "model: [fast, local]", "tools: [add]", nil, "offers tools to ollama/qwen3"},
		{"no tools", "model: local", "", nil, ""},
		{"openai", "model: fast", "tools: [add]", nil, ""},
		{"mock on", "model: local", "tools: [add]", map[string]string{providers.EnvMockResponse: "hi"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "name: w\ntools:\n  add: {value: 1}\nsteps:\n  s:\n    kind: llm\n    prompt: hi\n    " + tt.model + "\n    " + tt.tools + "\n"
			f, err := flowspec.Parse("w.yaml", []byte(src), flowspec.Options{CheckModel: providers.CheckModel})
			if err != nil {
				t.Fatal(err)
			}
			m := machine{registry: func() (providers.Registry, error) { return reg, nil },
				secrets: func() ([]keyring.Secret, bool) { return nil, false }, getenv: func(k string) string { return tt.env[k] }}
			got := flowWarnings(f, m)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("warnings %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Line != 5 {
				t.Fatalf("warnings %+v, want one at line 5", got)
			}
			for _, part := range strings.Split(tt.want, " | ") {
				if text := got[0].Message + " | " + got[0].Fix; !strings.Contains(text, part) {
					t.Errorf("warning %q; want %q in it", text, part)
				}
			}
		})
	}
}
