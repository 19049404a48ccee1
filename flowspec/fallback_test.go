package flowspec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestModelListsAndBudget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src    string
		model        string
		fallbacks    []string
		budget       Budget
		stepOverride bool
	}{
		{name: "one model", src: "model: fast", model: "fast"},
		{name: "flow list", src: "model: [fast, anthropic/claude-haiku-4-5]", model: "fast", fallbacks: []string{"anthropic/claude-haiku-4-5"}},
		{name: "block list", src: "model:\n      - fast\n      - openai/gpt-4o", model: "fast", fallbacks: []string{"openai/gpt-4o"}},
		{name: "list of one", src: "model: [fast]", model: "fast"},
		{name: "defaults list", src: "", model: "a", fallbacks: []string{"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := "name: f\ndefaults:\n  model: [a, b]\nbudget: {max_cost_usd: 2.5, max_tokens: 200000}\nsteps:\n  ask:\n    kind: llm\n    prompt: hi\n    " + c.src + "\n"
			f, err := Parse("f.yaml", []byte(src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			l := f.Step("ask").LLM
			if l.Model != c.model || !reflect.DeepEqual(l.Fallbacks, c.fallbacks) {
				t.Errorf("model %q fallbacks %q, want %q %q", l.Model, l.Fallbacks, c.model, c.fallbacks)
			}
			if want := (Budget{MaxCostUSD: 2.5, MaxTokens: 200000}); f.Budget != want {
				t.Errorf("budget %+v, want %+v", f.Budget, want)
			}
			// A run's snapshot loads lazily: the same list, the same fingerprint.
			lazy, err := Parse("f.yaml", []byte(src), Options{Lazy: true})
			if err != nil {
				t.Fatal(err)
			}
			if ll := lazy.Step("ask"); ll.Fingerprint() != f.Step("ask").Fingerprint() || !reflect.DeepEqual(ll.LLM.Models(), l.Models()) {
				t.Errorf("lazy load differs: %q %s", ll.LLM.Models(), ll.Fingerprint())
			}
		})
	}
}

// A list is part of the fingerprint, and one model hashes as it did
// before lists: its fallbacks field is left out.
func TestModelListFingerprint(t *testing.T) {
	t.Parallel()
	fp := func(model string) string {
		f, err := Parse("f.yaml", []byte("name: f\nsteps:\n  ask:\n    kind: llm\n    prompt: hi\n    model: "+model+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return f.Step("ask").Fingerprint()
	}
	one, list, other := fp("fast"), fp("[fast, slow]"), fp("[fast, other]")
	if one == list || list == other {
		t.Errorf("fingerprints do not tell the lists apart: %s %s %s", one, list, other)
	}
	if one != fp("[fast]") {
		t.Error("a list of one model hashes differently from the model")
	}
	d := fingerprintDocOf(&Step{Kind: KindLLM, LLM: &LLMStep{Model: "fast"}})
	if raw, _ := d.appendJSON(nil); strings.Contains(string(raw), "fallbacks") {
		t.Errorf("one model's fingerprint holds fallbacks: %s", raw)
	}
}

func TestModelListAndBudgetErrors(t *testing.T) {
	t.Parallel()
	head := "name: f\nsteps:\n  ask:\n    kind: llm\n    prompt: hi\n"
	cases := []struct{ name, src, want string }{
		{"empty list", head + "    model: []\n", "f.yaml:6:12: model is an empty list"},
		{"not a name", head + "    model: [fast, {a: b}]\n", "f.yaml:6:19: each model of a model list is a name"},
		{"null in list", head + "    model: [fast, null]\n", "f.yaml:6:19: each model of a model list is a name"},
		{"twice", head + "    model: [fast, slow, fast]\n", `f.yaml:6:25: model "fast" is in the list twice`},
		{"defaults twice", "name: f\ndefaults:\n  model: [a, a]\n" + "steps:\n  ask:\n    kind: llm\n    prompt: hi\n", `f.yaml:3:14: model "a" is in the list twice`},
		{"checked", head + "    model: [fast, nope]\n", `f.yaml:6:19: model "nope": unknown`},
		{"budget not a mapping", "budget: 2\n" + head, "f.yaml:1:9: budget must be a mapping"},
		{"unknown field", "budget: {max_cost: 2}\n" + head, `f.yaml:1:10: unknown budget field "max_cost"`},
		{"cost zero", "budget: {max_cost_usd: 0}\n" + head, "f.yaml:1:24: budget max_cost_usd must be a number of US dollars above 0"},
		{"cost text", "budget: {max_cost_usd: \"2\"}\n" + head, "f.yaml:1:24: budget max_cost_usd must be a number"},
		{"cost negative", "budget: {max_cost_usd: -1}\n" + head, "f.yaml:1:24: budget max_cost_usd must be"},
		{"tokens fraction", "budget: {max_tokens: 1.5}\n" + head, "f.yaml:1:22: budget max_tokens must be a whole number"},
		{"tokens zero", "budget: {max_tokens: 0}\n" + head, "f.yaml:1:22: budget max_tokens must be a whole number of tokens of at least 1"},
	}
	check := func(m string) error {
		if m == "nope" {
			return errors.New("unknown")
		}
		return nil
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.yaml", []byte(c.src), Options{CheckModel: check})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant it to hold %q", err, c.want)
			}
		})
	}
}

func TestBudgetOver(t *testing.T) {
	t.Parallel()
	file := Budget{MaxCostUSD: 2, MaxTokens: 100}
	cases := []struct {
		flags, want Budget
	}{
		{Budget{}, file},
		{Budget{MaxCostUSD: 5}, Budget{MaxCostUSD: 5, MaxTokens: 100}},
		{Budget{MaxTokens: 7}, Budget{MaxCostUSD: 2, MaxTokens: 7}},
		{Budget{MaxCostUSD: 1, MaxTokens: 1}, Budget{MaxCostUSD: 1, MaxTokens: 1}},
	}
	for _, c := range cases {
		if got := file.Over(c.flags); got != c.want {
			t.Errorf("%+v over %+v = %+v, want %+v", c.flags, file, got, c.want)
		}
	}
}

// The JSON Schema editors read knows model lists and budget:, and what
// the loader refuses of them.
func TestSchemaModelListsAndBudget(t *testing.T) {
	t.Parallel()
	sch := compiledFlowSchema(t)
	step := "steps: {x: {kind: llm, prompt: hi, model: %s}}\n"
	cases := []struct {
		name, src string
		ok        bool
	}{
		{"list", "name: a\n" + fmt.Sprintf(step, "[fast, openai/gpt-4o]"), true},
		{"defaults list", "name: a\ndefaults: {model: [a, b]}\n" + fmt.Sprintf(step, "fast"), true},
		{"budget", "name: a\nbudget: {max_cost_usd: 2.0, max_tokens: 200000}\n" + fmt.Sprintf(step, "fast"), true},
		{"empty list", "name: a\n" + fmt.Sprintf(step, "[]"), false},
		{"twice", "name: a\n" + fmt.Sprintf(step, "[a, a]"), false},
		{"budget zero", "name: a\nbudget: {max_cost_usd: 0}\n" + fmt.Sprintf(step, "fast"), false},
		{"budget field", "name: a\nbudget: {max_cost: 1}\n" + fmt.Sprintf(step, "fast"), false},
		{"tokens fraction", "name: a\nbudget: {max_tokens: 1.5}\n" + fmt.Sprintf(step, "fast"), false},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "f.yaml")
		if err := os.WriteFile(path, []byte(c.src), 0o600); err != nil {
			t.Fatal(err)
		}
		err := sch.Validate(yamlAsJSON(t, path))
		if (err == nil) != c.ok {
			t.Errorf("%s: schema error %v, want ok=%v", c.name, err, c.ok)
		}
		if _, lerr := Parse("f.yaml", []byte(c.src), Options{}); (lerr == nil) != c.ok {
			t.Errorf("%s: the loader says %v, the schema ok=%v", c.name, lerr, c.ok)
		}
	}
}
