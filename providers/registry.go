package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/kitaruhq/kitaru/internal/fsutil"
	"github.com/kitaruhq/kitaru/keyring"
)

// Environment variables that shape model resolution.
const (
	EnvModelRegistry = "KITARU_MODEL_REGISTRY"
	EnvDefaultModel  = "KITARU_DEFAULT_MODEL"
	EnvMockResponse  = "KITARU_LLM_MOCK_RESPONSE"
)

// SupportedProviders are the prefixes a provider/model string may carry.
var SupportedProviders = []string{"openai", "anthropic", "ollama", "openrouter", "gemini"}

var aliasRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// registryFile is the local registry's file name inside the config dir.
const registryFile = "models.json"

// RegistryPath is where the local registry lives.
func RegistryPath() (string, error) {
	dir, err := fsutil.ConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, registryFile), nil
}

// LoadLocal reads the local registry; a missing file is an empty registry.
func LoadLocal() (Registry, error) {
	path, err := RegistryPath()
	if err != nil {
		return Registry{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Registry{Aliases: map[string]Alias{}}, nil
	}
	if err != nil {
		return Registry{}, fmt.Errorf("cannot read the model registry %s: %w", path, err)
	}
	reg, err := parseRegistry(data, false)
	if err != nil {
		return Registry{}, fmt.Errorf("the model registry %s is damaged: %w; fix or delete the file, then register your aliases again with 'kitaru model register'", path, err)
	}
	return reg, nil
}

// SaveLocal writes the local registry atomically.
func SaveLocal(reg Registry) error {
	path, err := RegistryPath()
	if err != nil {
		return err
	}
	if reg.Aliases == nil {
		reg.Aliases = map[string]Alias{}
	}
	data, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the model registry: %w", err)
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'))
}

// LoadRegistry is the registry calls resolve with: the local one, overlaid
// by KITARU_MODEL_REGISTRY whose aliases and default win.
func LoadRegistry() (Registry, error) {
	return loadRegistry(os.Getenv)
}

func loadRegistry(getenv func(string) string) (Registry, error) {
	local, err := LoadLocal()
	if err != nil {
		return Registry{}, err
	}
	overlay, ok, err := EnvRegistry(getenv)
	if err != nil || !ok {
		return local, err
	}
	return Merge(overlay, local), nil
}

// EnvRegistry parses KITARU_MODEL_REGISTRY; ok is false when it is unset.
func EnvRegistry(getenv func(string) string) (reg Registry, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	raw := strings.TrimSpace(getenv(EnvModelRegistry))
	if raw == "" {
		return Registry{}, false, nil
	}
	reg, err = parseRegistry([]byte(raw), true)
	if err != nil {
		return Registry{}, false, fmt.Errorf("%s is not a valid model registry: %w; expected JSON like {\"aliases\": {\"fast\": {\"model\": \"openai/gpt-4o-mini\", \"secret\": \"openai-creds\"}}, \"default\": \"fast\"}", EnvModelRegistry, err)
	}
	return reg, true, nil
}

// parseRegistry decodes and checks registry JSON. strict rejects unknown
// fields: a person typed the variable and a misspelt key should not be
// ignored; the local file, written by kitaru, may come from a newer version.
func parseRegistry(data []byte, strict bool) (Registry, error) {
	var reg Registry
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&reg); err != nil {
		return Registry{}, err
	}
	if reg.Aliases == nil {
		reg.Aliases = map[string]Alias{}
	}
	for _, name := range sortedAliases(reg) {
		if err := checkAlias(name); err != nil {
			return Registry{}, err
		}
		if err := checkProviderModel(reg.Aliases[name].Model); err != nil {
			return Registry{}, fmt.Errorf("alias %q: %w", name, err)
		}
		if err := checkEndpoint(reg.Aliases[name]); err != nil {
			return Registry{}, fmt.Errorf("alias %q: %w", name, err)
		}
	}
	if reg.Default != "" {
		if _, ok := reg.Aliases[reg.Default]; !ok {
			// An overlay may name a default that only the local registry
			// has, so this is checked at resolution time, not here.
			if err := checkAlias(reg.Default); err != nil {
				return Registry{}, fmt.Errorf("default: %w", err)
			}
		}
	}
	return reg, nil
}

func checkAlias(alias string) error {
	if !aliasRE.MatchString(alias) {
		return fmt.Errorf("alias %q is not valid: use lowercase letters, digits, '-' and '_', starting with a letter or digit (for example 'fast')", alias)
	}
	return nil
}

// checkProviderModel checks a raw provider/model string.
func checkProviderModel(model string) error {
	provider, name, ok := strings.Cut(model, "/")
	if !ok || provider == "" || name == "" {
		return fmt.Errorf("model %q must be written provider/model, for example openai/gpt-4o-mini (providers: %s)", model, strings.Join(SupportedProviders, ", "))
	}
	if !isSupported(provider) {
		return fmt.Errorf("model %q has an unknown provider %q; supported providers are %s", model, provider, strings.Join(SupportedProviders, ", "))
	}
	return nil
}

func isSupported(provider string) bool {
	for _, p := range SupportedProviders {
		if p == provider {
			return true
		}
	}
	return false
}

// CheckModel checks a step's model as written in a flow, without a
// registry: a provider/model string must name a supported provider;
// anything else must look like an alias. "" (resolved at run time) is fine.
func CheckModel(model string) error {
	if model == "" {
		return nil
	}
	if strings.Contains(model, "/") {
		return checkProviderModel(model)
	}
	if !aliasRE.MatchString(model) {
		return fmt.Errorf("model %q is neither an alias (lowercase letters, digits, '-' and '_', such as 'fast') nor provider/model (such as openai/gpt-4o-mini; providers: %s)", model, strings.Join(SupportedProviders, ", "))
	}
	return nil
}

// Register adds or replaces alias for model and, optionally, the secret
// holding its key. The first alias becomes the default.
func (r *Registry) Register(alias, model, secret string) (replaced bool, err error) {
	return r.Put(alias, Alias{Model: model, Secret: secret})
}

// Put adds or replaces alias with a, checked whole. Header names are
// stored in their canonical form (x-api-key as X-Api-Key) and a base URL
// without its trailing slash. The first alias becomes the default.
func (r *Registry) Put(alias string, a Alias) (replaced bool, err error) {
	if err := checkAlias(alias); err != nil {
		return false, err
	}
	if err := checkProviderModel(a.Model); err != nil {
		return false, err
	}
	if a.Secret != "" {
		if err := keyring.ValidateName(a.Secret); err != nil {
			return false, err
		}
	}
	if err := checkEndpoint(a); err != nil {
		return false, err
	}
	a.BaseURL = strings.TrimRight(a.BaseURL, "/")
	if len(a.Headers) > 0 {
		canon := make(map[string]string, len(a.Headers))
		for k, v := range a.Headers {
			canon[http.CanonicalHeaderKey(k)] = v
		}
		a.Headers = canon
	} else {
		a.Headers = nil
	}
	if r.Aliases == nil {
		r.Aliases = map[string]Alias{}
	}
	_, replaced = r.Aliases[alias]
	r.Aliases[alias] = a
	if r.Default == "" {
		r.Default = alias
	}
	return replaced, nil
}

// Remove deletes alias. Removing the default leaves no default.
func (r *Registry) Remove(alias string) error {
	if _, ok := r.Aliases[alias]; !ok {
		return r.unknownAlias(alias)
	}
	delete(r.Aliases, alias)
	if r.Default == alias {
		r.Default = ""
	}
	return nil
}

// SetDefault makes alias the default.
func (r *Registry) SetDefault(alias string) error {
	if _, ok := r.Aliases[alias]; !ok {
		return r.unknownAlias(alias)
	}
	r.Default = alias
	return nil
}

// Lookup returns alias, or an error that suggests a near name and says
// how to register it.
func (r Registry) Lookup(alias string) (Alias, error) {
	a, ok := r.Aliases[alias]
	if !ok {
		return Alias{}, r.unknownAlias(alias)
	}
	return a, nil
}

// Names returns the aliases, sorted.
func (r Registry) Names() []string { return sortedAliases(r) }

func sortedAliases(r Registry) []string {
	names := make([]string, 0, len(r.Aliases))
	for n := range r.Aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolved is a model call's target after alias resolution.
type Resolved struct {
	Alias    string // "" for a raw provider/model
	Model    string // provider/model
	Provider string
	Name     string // the model name the provider knows
	Secret   string // the alias's secret name, if any
	Price    *Price // the alias's price override, if any
	BaseURL  string // the alias's own server, if any
	Headers  map[string]string
}

// SameTarget says whether r and o send a call to the same model on the
// same server: a replay runs an llm step again when its alias now points
// elsewhere, as another server may answer differently. Headers do not
// count (a new key behind the same reference, a title).
func (r Resolved) SameTarget(o Resolved) bool {
	return r.Model == o.Model && r.BaseURL == o.BaseURL
}

// Resolve picks the model for a call: model as the step wrote it (with the
// flow's defaults.model already folded in), then KITARU_DEFAULT_MODEL (an
// alias if one matches, else a raw provider/model), then the default alias.
func (r Registry) Resolve(model string, getenv func(string) string) (Resolved, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if model != "" {
		return r.resolveName(model, "")
	}
	if env := DefaultModelEnv(getenv); env != "" {
		return r.resolveName(env, EnvDefaultModel)
	}
	if r.Default != "" {
		return r.resolveName(r.Default, "the default alias")
	}
	return Resolved{}, errors.New("no model is configured for this llm step. Register an alias once " +
		"(kitaru secrets set openai-creds --OPENAI_API_KEY=…, then kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds; " +
		"the first alias becomes the default), or write model: openai/gpt-4o-mini on the step or in the flow's defaults, " +
		"or set " + EnvDefaultModel + "; to try a flow offline, set " + EnvMockResponse + "='some answer'")
}

// DefaultModelEnv is the model KITARU_DEFAULT_MODEL names, as getenv (nil:
// os.Getenv) reads it, for the llm steps that name none; "" when unset.
func DefaultModelEnv(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	return strings.TrimSpace(getenv(EnvDefaultModel))
}

// resolveName resolves an alias or raw provider/model; from says where the
// name came from when it was not the step ("" for the step).
func (r Registry) resolveName(name, from string) (Resolved, error) {
	where := ""
	if from != "" {
		where = " (from " + from + ")"
	}
	if a, ok := r.Aliases[name]; ok {
		res, err := splitModel(a.Model)
		if err != nil {
			return Resolved{}, fmt.Errorf("alias %q%s: %w", name, where, err)
		}
		res.Alias, res.Secret, res.Price = name, a.Secret, a.Price
		res.BaseURL, res.Headers = strings.TrimRight(a.BaseURL, "/"), a.Headers
		return res, nil
	}
	if strings.Contains(name, "/") {
		res, err := splitModel(name)
		if err != nil {
			return Resolved{}, fmt.Errorf("%w%s", err, where)
		}
		return res, nil
	}
	err := r.unknownAlias(name)
	if from != "" {
		err = fmt.Errorf("%w%s", err, where)
	}
	return Resolved{}, err
}

func splitModel(model string) (Resolved, error) {
	if err := checkProviderModel(model); err != nil {
		return Resolved{}, err
	}
	provider, name, _ := strings.Cut(model, "/")
	return Resolved{Model: model, Provider: provider, Name: name}, nil
}

// unknownAlias explains a missing alias with a suggestion and the fix.
func (r Registry) unknownAlias(alias string) error {
	return errors.New(r.UnknownAlias(alias, "is not registered") + ". " + AliasFix(alias))
}

// UnknownAlias says that alias is not one of r's, how (such as "is not
// registered on this machine"), with the closest registered alias or the
// list of them.
func (r Registry) UnknownAlias(alias, how string) string {
	msg := fmt.Sprintf("model alias %q %s", alias, how)
	if s := closest(alias, sortedAliases(r)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if len(r.Aliases) > 0 {
		msg += fmt.Sprintf(" (registered: %s)", strings.Join(sortedAliases(r), ", "))
	} else {
		msg += " (none is registered)"
	}
	return msg
}

// AliasFix says what to do about a model name that is no registered
// alias. A name that reads as a provider's own model name (gpt-4o) is
// most likely meant as that model, so the fix is its provider/model form;
// registering it under some other model would only hide the mistake.
// Otherwise the alias is registered with a model the user picks.
func AliasFix(alias string) string {
	if p := GuessProvider(alias); p != "" {
		return fmt.Sprintf("To call that model, write model: %s/%s (or register the alias: kitaru model register %s --model %s/%s)", p, alias, alias, p, alias)
	}
	return fmt.Sprintf("Register it with: kitaru model register %s --model PROVIDER/MODEL (such as openai/gpt-4o-mini; add --secret NAME for its key), or write a provider/model instead", aliasOrPlaceholder(alias))
}

// modelFamilies are the name prefixes of one provider's own models, for
// AliasFix. Open models (llama, qwen) are served by several providers, so
// they guess none.
var modelFamilies = []struct{ prefix, provider string }{
	{"gpt-", "openai"}, {"chatgpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4-", "openai"},
	{"claude-", "anthropic"},
	{"gemini-", "gemini"},
}

// GuessProvider returns the provider whose model name model reads as
// (gpt-4o: openai; o3 and o3-mini: openai), or "".
func GuessProvider(model string) string {
	for _, f := range modelFamilies {
		rest, ok := strings.CutPrefix(model, f.prefix)
		if !ok {
			continue
		}
		// "o1" alone or "o1-…"; "gpt-" needs something after it.
		if strings.HasSuffix(f.prefix, "-") && rest != "" || !strings.HasSuffix(f.prefix, "-") && (rest == "" || rest[0] == '-') {
			return f.provider
		}
	}
	return ""
}

func aliasOrPlaceholder(alias string) string {
	if aliasRE.MatchString(alias) {
		return alias
	}
	return "ALIAS"
}

// closest returns the candidate nearest to s, if it is near enough to be a
// plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, len(s)/3)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and
// adjacent swaps between a and b (a swap is the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
