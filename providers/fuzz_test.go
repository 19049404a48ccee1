package providers

import (
	"strings"
	"testing"
)

// FuzzRegistryJSON: any accepted registry resolves each of its aliases to
// a supported provider, and nothing panics.
func FuzzRegistryJSON(f *testing.F) {
	f.Add(`{"aliases": {"fast": {"model": "openai/gpt-4o-mini", "secret": "openai-creds"}}, "default": "fast"}`)
	f.Add(`{"aliases": {"a-1": {"model": "openrouter/x/y", "price": {"input_per_mtok": 1}}}}`)
	f.Add(`{"aliases": {}}`)
	f.Fuzz(func(t *testing.T, data string) {
		reg, err := parseRegistry([]byte(data), true)
		if err != nil {
			return
		}
		for _, name := range reg.Names() {
			res, err := reg.Resolve(name, envOf(nil))
			if err != nil {
				t.Fatalf("accepted alias %q does not resolve: %v", name, err)
			}
			if !isSupported(res.Provider) || res.Name == "" || CheckModel(name) != nil {
				t.Fatalf("alias %q resolved to %+v", name, res)
			}
		}
	})
}

// FuzzCheckModel: a model CheckModel accepts either is alias-shaped or
// splits into a supported provider and a name.
func FuzzCheckModel(f *testing.F) {
	for _, s := range []string{"fast", "openai/gpt-4o", "x/y", "", "ollama/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, model string) {
		if CheckModel(model) != nil || model == "" {
			return
		}
		if !strings.Contains(model, "/") {
			if !aliasRE.MatchString(model) {
				t.Fatalf("accepted %q", model)
			}
			return
		}
		if _, err := splitModel(model); err != nil {
			t.Fatalf("accepted %q but cannot split it: %v", model, err)
		}
	})
}
