package providers

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCheckModel(t *testing.T) {
	tests := []struct {
		model   string
		wantErr string // "" means valid
	}{
		{"", ""},
		{"fast", ""},
		{"my_model-2", ""},
		{"openai/gpt-4o-mini", ""},
		{"anthropic/claude-3-5-haiku-latest", ""},
		{"ollama/llama3.2", ""},
		{"openrouter/meta-llama/llama-3.1-8b-instruct", ""},
		{"mistral/large", "openai, anthropic, ollama, openrouter, gemini"},
		{"openai/", "provider/model"},
		{"/gpt", "provider/model"},
		{"Fast", "neither an alias"},
		{"has space", "neither an alias"},
	}
	for _, tt := range tests {
		err := CheckModel(tt.model)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckModel(%q) = %v, want nil", tt.model, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckModel(%q) = %v, want error containing %q", tt.model, err, tt.wantErr)
		}
	}
}

func TestRegistryRegisterRemoveDefault(t *testing.T) {
	var r Registry
	if replaced, err := r.Register("fast", "openai/gpt-4o-mini", "openai-creds"); err != nil || replaced {
		t.Fatalf("first register: replaced=%v err=%v", replaced, err)
	}
	if r.Default != "fast" {
		t.Fatalf("first alias should become the default, got %q", r.Default)
	}
	if _, err := r.Register("smart", "anthropic/claude-sonnet-4-0", ""); err != nil {
		t.Fatal(err)
	}
	if r.Default != "fast" {
		t.Fatalf("second alias must not change the default, got %q", r.Default)
	}
	replaced, err := r.Register("fast", "openai/gpt-4o", "")
	if err != nil || !replaced {
		t.Fatalf("re-register: replaced=%v err=%v", replaced, err)
	}
	if r.Aliases["fast"].Model != "openai/gpt-4o" || r.Aliases["fast"].Secret != "" {
		t.Fatalf("re-register did not replace: %+v", r.Aliases["fast"])
	}
	for _, bad := range []struct{ alias, model, secret string }{
		{"Fast", "openai/gpt-4o", ""},
		{"-x", "openai/gpt-4o", ""},
		{"ok", "openai/gpt-4o", "Bad Secret"},
		{"ok", "gpt-4o", ""},
		{"ok", "mistral/large", ""},
	} {
		if _, err := r.Register(bad.alias, bad.model, bad.secret); err == nil {
			t.Errorf("Register(%q, %q, %q) succeeded, want error", bad.alias, bad.model, bad.secret)
		}
	}
	if _, ok := r.Aliases["ok"]; ok {
		t.Error("a rejected Register changed the registry")
	}
	if err := r.SetDefault("smart"); err != nil || r.Default != "smart" {
		t.Fatalf("SetDefault: %v, default %q", err, r.Default)
	}
	if err := r.SetDefault("smrat"); err == nil || !strings.Contains(err.Error(), `did you mean "smart"`) {
		t.Fatalf("SetDefault of a typo: %v", err)
	}
	if err := r.Remove("smart"); err != nil {
		t.Fatal(err)
	}
	if r.Default != "" {
		t.Fatalf("removing the default should leave none, got %q", r.Default)
	}
	if err := r.Remove("smart"); err == nil {
		t.Fatal("removing a missing alias succeeded")
	}
}

func TestLocalRegistryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	reg, err := LoadLocal()
	if err != nil || len(reg.Aliases) != 0 {
		t.Fatalf("fresh LoadLocal = %+v, %v", reg, err)
	}
	if _, err := reg.Register("fast", "openai/gpt-4o-mini", "openai-creds"); err != nil {
		t.Fatal(err)
	}
	groq := Alias{Model: "openai/llama-3.1-8b-instant", BaseURL: "https://api.groq.com/openai/v1/",
		Headers: map[string]string{"authorization": "secret:groq-creds/GROQ_API_KEY", "X-Title": "kitaru, flows"}}
	if _, err := reg.Put("groq", groq); err != nil {
		t.Fatal(err)
	}
	if err := SaveLocal(reg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kitaru", "models.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("models.json mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadLocal()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Alias{
		"fast": {Model: "openai/gpt-4o-mini", Secret: "openai-creds"},
		// Stored canonical: the header name as HTTP spells it, the base
		// URL without its trailing slash.
		"groq": {Model: "openai/llama-3.1-8b-instant", BaseURL: "https://api.groq.com/openai/v1",
			Headers: map[string]string{"Authorization": "secret:groq-creds/GROQ_API_KEY", "X-Title": "kitaru, flows"}},
	}
	if got.Default != "fast" || !reflect.DeepEqual(got.Aliases, want) {
		t.Fatalf("round trip = %+v, want %+v", got.Aliases, want)
	}
	raw, _ := os.ReadFile(path)
	for _, w := range []string{`"base_url": "https://api.groq.com/openai/v1"`, `"Authorization": "secret:groq-creds/GROQ_API_KEY"`} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("models.json lacks %s:\n%s", w, raw)
		}
	}
	// A field from a newer kitaru does not make the file unreadable.
	if err := os.WriteFile(path, []byte(`{"aliases": {"fast": {"model": "openai/gpt-4o", "future": 1}}, "default": "fast", "version": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadLocal(); err != nil || got.Aliases["fast"].Model != "openai/gpt-4o" {
		t.Fatalf("newer file: %+v, %v", got, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLocal(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged file error should name %s: %v", path, err)
	}
}

func TestLoadRegistryOverlay(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var local Registry
	local.Register("fast", "openai/gpt-4o-mini", "openai-creds")
	local.Register("local-only", "ollama/llama3.2", "")
	if err := SaveLocal(local); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvModelRegistry, `{"aliases": {"fast": {"model": "anthropic/claude-3-5-haiku-latest", "secret": "anth"}, "smart": {"model": "openai/gpt-4o"}}, "default": "smart"}`)
	reg, err := LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if reg.Default != "smart" {
		t.Errorf("overlay default should win, got %q", reg.Default)
	}
	if reg.Aliases["fast"].Model != "anthropic/claude-3-5-haiku-latest" {
		t.Errorf("overlay alias should win, got %+v", reg.Aliases["fast"])
	}
	if reg.Aliases["local-only"].Model != "ollama/llama3.2" {
		t.Errorf("local alias lost: %+v", reg.Aliases)
	}

	t.Setenv(EnvModelRegistry, `{"aliases": {}}`)
	reg, err = LoadRegistry()
	if err != nil || reg.Default != "fast" {
		t.Fatalf("overlay without default should keep the local default: %q, %v", reg.Default, err)
	}

	for _, bad := range []string{`{"aliases": `, `{"aliases": {"x": {"model": "nope"}}}`, `{"alias": {}}`} {
		t.Setenv(EnvModelRegistry, bad)
		if _, err := LoadRegistry(); err == nil || !strings.Contains(err.Error(), EnvModelRegistry) {
			t.Errorf("bad overlay %s: error %v should name %s", bad, err, EnvModelRegistry)
		}
	}
}

func TestResolve(t *testing.T) {
	reg := Registry{
		Aliases: map[string]Alias{
			"fast":  {Model: "openai/gpt-4o-mini", Secret: "openai-creds"},
			"smart": {Model: "anthropic/claude-sonnet-4-0", Price: &Price{InputPerMTok: 1, OutputPerMTok: 2}},
		},
		Default: "fast",
	}
	tests := []struct {
		name      string
		reg       Registry
		model     string
		env       map[string]string
		wantAlias string
		wantModel string
		wantErr   string
	}{
		{name: "step alias", reg: reg, model: "smart", wantAlias: "smart", wantModel: "anthropic/claude-sonnet-4-0"},
		{name: "step raw", reg: reg, model: "ollama/llama3.2", wantModel: "ollama/llama3.2"},
		{name: "step beats env", reg: reg, model: "smart", env: map[string]string{EnvDefaultModel: "fast"}, wantAlias: "smart", wantModel: "anthropic/claude-sonnet-4-0"},
		{name: "env alias", reg: reg, env: map[string]string{EnvDefaultModel: "smart"}, wantAlias: "smart", wantModel: "anthropic/claude-sonnet-4-0"},
		{name: "env raw", reg: reg, env: map[string]string{EnvDefaultModel: "openai/gpt-4.1"}, wantModel: "openai/gpt-4.1"},
		{name: "env unknown alias", reg: reg, env: map[string]string{EnvDefaultModel: "fsat"}, wantErr: `did you mean "fast"`},
		{name: "env bad provider", reg: reg, env: map[string]string{EnvDefaultModel: "mistral/large"}, wantErr: EnvDefaultModel},
		{name: "default alias", reg: reg, wantAlias: "fast", wantModel: "openai/gpt-4o-mini"},
		{name: "unknown step alias", reg: reg, model: "smrt", wantErr: `did you mean "smart"`},
		{name: "unknown alias says how", reg: reg, model: "zzzzzz", wantErr: "kitaru model register zzzzzz --model PROVIDER/MODEL"},
		{name: "bare model name wants provider/model", reg: reg, model: "gpt-4o", wantErr: "write model: openai/gpt-4o (or register the alias: kitaru model register gpt-4o --model openai/gpt-4o)"},
		{name: "nothing configured", reg: Registry{}, wantErr: "kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds"},
		{name: "nothing configured mentions mock", reg: Registry{}, wantErr: EnvMockResponse},
		{name: "dangling default", reg: Registry{Aliases: map[string]Alias{}, Default: "gone"}, wantErr: `"gone" is not registered`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.reg.Resolve(tt.model, envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve = %+v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Alias != tt.wantAlias || got.Model != tt.wantModel {
				t.Fatalf("Resolve = alias %q model %q, want %q %q", got.Alias, got.Model, tt.wantAlias, tt.wantModel)
			}
			provider, name, _ := strings.Cut(tt.wantModel, "/")
			if got.Provider != provider || got.Name != name {
				t.Fatalf("Resolve split = %q %q", got.Provider, got.Name)
			}
		})
	}
	got, _ := reg.Resolve("fast", envOf(nil))
	if got.Secret != "openai-creds" {
		t.Errorf("alias secret not carried: %+v", got)
	}
	got, _ = reg.Resolve("smart", envOf(nil))
	if got.Price == nil || got.Price.OutputPerMTok != 2 {
		t.Errorf("alias price not carried: %+v", got)
	}
}

func TestPriceOf(t *testing.T) {
	tests := []struct {
		model string
		ok    bool
		in    float64
	}{
		{"openai/gpt-4o-mini", true, 0.15},
		{"openai/gpt-4o-2024-08-06", true, 2.50},
		{"anthropic/claude-3-5-haiku-20241022", true, 0.80},
		{"anthropic/claude-sonnet-4-0", true, 3},
		{"anthropic/claude-3-5-sonnet-latest", true, 3},
		{"ollama/llama3.2", true, 0},
		{"openai/gpt-5.5", true, 5},
		{"anthropic/claude-haiku-5-5", true, 0.10},
		{"anthropic/claude-opus-5-5", true, 4},
		{"openai/some-future-model", false, 0},
		{"openrouter/openai/gpt-4o-mini", false, 0},
	}
	for _, tt := range tests {
		p, ok := PriceOf(tt.model)
		if ok != tt.ok || p.InputPerMTok != tt.in {
			t.Errorf("PriceOf(%q) = %+v, %v; want in=%v ok=%v", tt.model, p, ok, tt.in, tt.ok)
		}
	}
}

func TestPriceCost(t *testing.T) {
	haiku, _ := PriceOf("anthropic/claude-haiku-5-5")
	tests := []struct {
		name  string
		price Price
		usage Usage
		want  float64
	}{
		{"flat", Price{InputPerMTok: 0.15, OutputPerMTok: 0.60}, Usage{InputTokens: 1_000_000, OutputTokens: 500_000}, 0.45},
		{"at the long-context threshold", haiku, Usage{InputTokens: 100_000, OutputTokens: 1_000_000}, 0.01 + 0.50},
		{"over it: the whole call at the long rates", haiku, Usage{InputTokens: 100_001, OutputTokens: 1_000_000}, 0.0500005 + 2.50},
		{"nothing used", haiku, Usage{}, 0},
	}
	for _, tt := range tests {
		if got := tt.price.Cost(tt.usage); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Cost = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAliasFix(t *testing.T) {
	t.Parallel()
	tests := []struct{ alias, want, never string }{
		{"gpt-4o", "model: openai/gpt-4o", "gpt-4o-mini"},
		{"claude-sonnet-4-0", "model: anthropic/claude-sonnet-4-0", "openai"},
		{"gemini-2.5-flash", "model: gemini/gemini-2.5-flash", "openai"},
		{"o3", "model: openai/o3", "gpt-4o-mini"},
		{"o3-mini", "model: openai/o3-mini", "gpt-4o-mini"},
		{"o30", "kitaru model register o30 --model PROVIDER/MODEL", "openai/o30"},
		{"fast", "kitaru model register fast --model PROVIDER/MODEL", "openai/fast"},
		{"gpt-", "kitaru model register gpt- --model PROVIDER/MODEL", "model: openai"},
	}
	for _, tt := range tests {
		got := AliasFix(tt.alias)
		if !strings.Contains(got, tt.want) || strings.Contains(got, tt.never) {
			t.Errorf("AliasFix(%q) = %q; want it to hold %q and not %q", tt.alias, got, tt.want, tt.never)
		}
	}
}

func TestUnknownAliasLists(t *testing.T) {
	t.Parallel()
	reg := Registry{Aliases: map[string]Alias{"fast": {Model: "openai/gpt-4o-mini"}, "smart": {Model: "anthropic/claude-sonnet-4-0"}}}
	tests := []struct {
		reg         Registry
		alias, want string
	}{
		{reg, "fsat", `model alias "fsat" is here; did you mean "fast"?`},
		{reg, "gpt-4o", `model alias "gpt-4o" is here (registered: fast, smart)`},
		{Registry{}, "gpt-4o", `model alias "gpt-4o" is here (none is registered)`},
	}
	for _, tt := range tests {
		if got := tt.reg.UnknownAlias(tt.alias, "is here"); got != tt.want {
			t.Errorf("UnknownAlias(%q) = %q, want %q", tt.alias, got, tt.want)
		}
	}
}
