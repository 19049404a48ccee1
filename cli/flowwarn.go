package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// Warnings: what a flow names that this machine lacks (a model alias, a
// secret). They are not errors, since the flow may run on another machine,
// or here with KITARU_MODEL_REGISTRY or KITARU_LLM_MOCK_RESPONSE set; they
// are said before anything runs instead of when the step that needs them
// fails.

// flowWarning is one warning, at the place in the flow file it is about.
type flowWarning struct {
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"` // what is wrong
	Fix     string `json:"fix"`     // what to do about it
}

// machine is what the warnings are checked against; a variable part of
// the tests.
type machine struct {
	registry func() (providers.Registry, error)
	// secrets lists the secrets stored here (names and key names); ok is
	// false when they cannot be known (no index readable), and then
	// nothing is said.
	secrets func() (list []keyring.Secret, ok bool)
	getenv  func(string) string
}

var thisMachine = machine{registry: providers.LoadRegistry, secrets: storedSecrets, getenv: os.Getenv}

// storedSecrets reads only the keyring's index of names, never the
// keyring itself, so it is quick and asks for no unlocking (as
// secretKeyNote).
func storedSecrets() ([]keyring.Secret, bool) {
	store, err := keyring.Open(keyring.Options{})
	if err != nil {
		return nil, false
	}
	list, err := store.List()
	if err != nil {
		return nil, false
	}
	return list, true
}

// flowWarnings checks what f uses against m; each name is warned about
// once, at its first use.
func flowWarnings(f *flowspec.Flow, m machine) []flowWarning {
	if f == nil {
		return nil
	}
	reg, regErr := m.registry() // read once for every check below
	out := unnamedModelWarning(f, m, reg, regErr)
	out = append(out, ollamaToolsWarnings(f, m, reg, regErr)...)
	if len(f.Uses) == 0 {
		return out
	}
	seen := map[flowspec.Use]bool{}
	once := func(u flowspec.Use) bool {
		k := flowspec.Use{Kind: u.Kind, Name: u.Name}
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	// With the mock on, no model is resolved and no key is read.
	mock := m.getenv(providers.EnvMockResponse) != ""
	var stored []keyring.Secret
	storedOK, storedRead := false, false
	// find returns the stored secret named name; known is false when
	// what is stored cannot be read.
	find := func(name string) (s *keyring.Secret, known bool) {
		if !storedRead {
			stored, storedOK = m.secrets()
			storedRead = true
		}
		for i := range stored {
			if stored[i].Name == name {
				return &stored[i], storedOK
			}
		}
		return nil, storedOK
	}
	for _, u := range f.Uses {
		if !once(u) {
			continue
		}
		w := flowWarning{Line: u.Pos.Line, Col: u.Pos.Col}
		switch u.Kind {
		case flowspec.UseModel:
			// A damaged registry is the run's error to report, not a warning.
			if mock || regErr != nil || strings.Contains(u.Name, "/") {
				continue
			}
			a, ok := reg.Aliases[u.Name]
			if !ok {
				w.Message = reg.UnknownAlias(u.Name, "is not registered on this machine")
				w.Fix = providers.AliasFix(u.Name) + fmt.Sprintf(". Fine if the flow runs where the alias is registered, or with %s or %s set", providers.EnvModelRegistry, providers.EnvMockResponse)
				out = append(out, w)
				continue
			}
			key := providers.KeyVar(a.Model)
			if a.Secret == "" || key == "" || m.getenv(key) != "" {
				continue // no key needed, or the environment gives it
			}
			s, known := find(a.Secret)
			switch {
			case !known:
			case s == nil:
				w.Message = fmt.Sprintf("model alias %q reads its key from secret %q, which does not exist on this machine", u.Name, a.Secret)
				w.Fix = fmt.Sprintf("Create it with: kitaru secrets set %s --%s=… (or export %s)", a.Secret, key, key)
				out = append(out, w)
			case !slices.Contains(s.Keys, key):
				w.Message = fmt.Sprintf("model alias %q reads its key %s from secret %q, which has no such key", u.Name, key, a.Secret)
				w.Fix = fmt.Sprintf("Add it with: kitaru secrets set %s --%s=… (or export %s)", a.Secret, key, key)
				out = append(out, w)
			}
		case flowspec.UseSecret:
			if s, known := find(u.Name); known && s == nil {
				w.Message = fmt.Sprintf("secret %q does not exist on this machine", u.Name)
				w.Fix = fmt.Sprintf("Create it with: kitaru secrets set %s --KEY=VALUE, one --KEY for each variable the command reads", u.Name)
				out = append(out, w)
			}
		}
	}
	return out
}

// unnamedModelWarning warns, at the first llm step that names no model
// (nor do the flow's defaults), when this machine has nothing to give it:
// no default alias and no KITARU_DEFAULT_MODEL.
func unnamedModelWarning(f *flowspec.Flow, m machine, reg providers.Registry, regErr error) []flowWarning {
	if m.getenv(providers.EnvMockResponse) != "" || m.getenv(providers.EnvDefaultModel) != "" {
		return nil
	}
	for _, s := range f.Steps {
		if s.Kind != flowspec.KindLLM || s.LLM == nil || s.LLM.Model != "" {
			continue
		}
		if regErr != nil || reg.Default != "" {
			return nil
		}
		return []flowWarning{{Line: s.Pos.Line, Col: s.Pos.Col,
			Message: fmt.Sprintf("llm step %q names no model, and this machine has no default alias", s.ID),
			Fix: "Register one (the first alias registered becomes the default): kitaru model register ALIAS --model PROVIDER/MODEL; " +
				"or write model: PROVIDER/MODEL on the step or in defaults; fine with " + providers.EnvDefaultModel + " or " + providers.EnvMockResponse + " set"}}
	}
	return nil
}

// ollamaToolsWarnings warn at each llm step that offers tools to an
// ollama/ model: kitaru calls those through Ollama's native API, without
// tools, so the step fails before the call (see providers).
func ollamaToolsWarnings(f *flowspec.Flow, m machine, reg providers.Registry, regErr error) []flowWarning {
	if m.getenv(providers.EnvMockResponse) != "" {
		return nil
	}
	var out []flowWarning
	for _, s := range f.Steps {
		l := s.LLM
		if s.Kind != flowspec.KindLLM || l == nil || len(l.Tools)+len(l.MCP) == 0 {
			continue
		}
		for _, name := range append([]string{l.Model}, l.Fallbacks...) {
			model := name
			if name == "" && regErr == nil {
				name = reg.Default
			}
			if a, ok := reg.Aliases[name]; ok && regErr == nil {
				model = a.Model
			}
			rest, ok := strings.CutPrefix(model, "ollama/")
			if !ok {
				continue
			}
			alias := name
			if alias == model || alias == "" {
				alias = "NAME"
			}
			out = append(out, flowWarning{Line: s.Pos.Line, Col: s.Pos.Col,
				Message: fmt.Sprintf("llm step %q offers tools to %s, which kitaru calls through Ollama's native API, without tools: the step will fail before calling it", s.ID, model),
				Fix:     fmt.Sprintf("Call it through Ollama's OpenAI-compatible endpoint: kitaru model register %s --model openai/%s --base-url http://localhost:11434/v1, and name that alias", alias, rest)})
			break
		}
	}
	return out
}

// printWarnings writes each warning as FILE:LINE:COL: warning: what; fix.
func printWarnings(w io.Writer, file string, list []flowWarning) {
	for _, x := range list {
		fmt.Fprintf(w, "%s:%d:%d: warning: %s\n  %s.\n", file, x.Line, x.Col, sentence(x.Message), x.Fix)
	}
}

// sentence ends s with a full stop unless it ends with a question mark.
func sentence(s string) string {
	if strings.HasSuffix(s, "?") || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}
