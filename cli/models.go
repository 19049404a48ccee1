package cli

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// Owned by the providers work: kitaru model ...

type modelCmd struct {
	Register modelRegisterCmd `cmd:"" help:"Register (or replace) a model alias."`
	List     modelListCmd     `cmd:"" help:"List model aliases and the default one."`
	Show     modelShowCmd     `cmd:"" help:"Show one alias: its model, where its calls go, its key and price."`
	Remove   modelRemoveCmd   `cmd:"" help:"Remove a model alias."`
	Default  modelDefaultCmd  `cmd:"" help:"Make an alias the default model."`
}

func (c *modelCmd) Help() string {
	return `An alias names a provider/model and, optionally, the secret that holds
its API key and a server of its own. llm steps name an alias (model: fast)
or a raw provider/model; a step that names neither uses
KITARU_DEFAULT_MODEL, then the default alias.
Providers: ` + strings.Join(providers.SupportedProviders, ", ") + `.

` + baseURLHelp + `

Example:

    kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...
    kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
    kitaru model list`
}

// baseURLHelp is the rule for writing base URLs, per provider.
const baseURLHelp = `Base URLs are written as each provider's SDK expects them:
OPENAI_BASE_URL=http://host:port/v1 (the path the API's /chat/completions
is under; the same for OPENROUTER_BASE_URL, GEMINI_BASE_URL and
--base-url of an openai, openrouter or gemini alias), ANTHROPIC_BASE_URL
with or without /v1, OLLAMA_HOST as host, host:port or URL (no /v1).`

type modelRegisterCmd struct {
	Alias  string `arg:"" help:"Alias name: lowercase letters, digits, '-' and '_'."`
	Model  string `required:"" help:"PROVIDER/MODEL, for example openai/gpt-4o-mini." placeholder:"PROVIDER/MODEL"`
	Secret string `help:"Name of the secret holding the provider's API key (see 'kitaru secrets set')." placeholder:"NAME"`
	// Pointers: a price of 0 (a free model) is different from none given.
	InputPrice  *float64 `help:"Price of input tokens in USD per million, overriding kitaru's table (give --output-price too)." placeholder:"USD"`
	OutputPrice *float64 `help:"Price of output tokens in USD per million, overriding kitaru's table (give --input-price too)." placeholder:"USD"`
	BaseURL     string   `name:"base-url" help:"Send this alias's calls to another server, written as the provider's SDK expects it (http://localhost:8000/v1 for an OpenAI-compatible one)." placeholder:"URL"`
	// sep:none: a header value may hold commas.
	Header []string `sep:"none" help:"A header sent with every call of this alias (repeatable); VALUE may name a secret key, secret:NAME/KEY, or a variable, env:NAME, read at call time." placeholder:"NAME=VALUE"`
}

func (c *modelRegisterCmd) Help() string {
	return `Registers ALIAS for a provider/model. Registering an alias that exists
replaces it. The first alias registered becomes the default.

Example:

    kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
    kitaru model register smart --model anthropic/claude-sonnet-4-0 --secret anthropic-creds
    kitaru model register local --model ollama/llama3.2
    kitaru model register flash --model gemini/gemini-2.5-flash --secret gemini-creds
    kitaru model register cheap --model openrouter/meta-llama/llama-3.1-8b-instruct \
        --secret openrouter-creds --input-price 0.02 --output-price 0.03

Any OpenAI-compatible server (vLLM, LM Studio, Groq, Mistral, …) through
an openai/ alias with its own base URL:

    kitaru model register vllm --model openai/meta-llama/Llama-3.1-8B-Instruct \
        --base-url http://localhost:8000/v1
    kitaru secrets set groq-creds --GROQ_API_KEY=gsk_...
    kitaru model register groq --model openai/llama-3.1-8b-instant \
        --base-url https://api.groq.com/openai/v1 \
        --header 'Authorization=secret:groq-creds/GROQ_API_KEY'

` + baseURLHelp + `

An alias with its own base URL never sends the provider's key from the
environment (OPENAI_API_KEY is for OpenAI): only its --secret, or what
its headers name, or no key at all. An Authorization header naming a bare
key is sent as "Bearer KEY"; write 'Authorization=Basic secret:NAME/KEY'
for another scheme. A header whose name or value looks like a credential
must name a secret or variable: models.json and every run's record hold
the registry as written, never a secret value.

Costs come from kitaru's price table for common OpenAI, Anthropic and
Gemini models at their providers' own endpoints; for others give
--input-price and --output-price, or no cost is recorded.`
}

// modelEntry is one alias as `model list --json`, `model show --json` and
// `model register --json` print it.
type modelEntry struct {
	Alias   string            `json:"alias"`
	Model   string            `json:"model"`
	Secret  string            `json:"secret,omitempty"`
	Default bool              `json:"default"`
	Source  string            `json:"source"` // "local" or "KITARU_MODEL_REGISTRY"
	Price   *providers.Price  `json:"price,omitempty"`
	BaseURL string            `json:"base_url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"` // as registered: references, never their values
}

func newModelEntry(name string, a providers.Alias, source string, isDefault bool) modelEntry {
	return modelEntry{Alias: name, Model: a.Model, Secret: a.Secret, Default: isDefault, Source: source, Price: a.Price, BaseURL: a.BaseURL, Headers: a.Headers}
}

func (c *modelRegisterCmd) price() (*providers.Price, error) {
	if c.InputPrice == nil && c.OutputPrice == nil {
		return nil, nil
	}
	if c.InputPrice == nil || c.OutputPrice == nil {
		return nil, errors.New("give both --input-price and --output-price (USD per million tokens), or neither")
	}
	if *c.InputPrice < 0 || *c.OutputPrice < 0 {
		return nil, errors.New("prices cannot be negative")
	}
	return &providers.Price{InputPerMTok: *c.InputPrice, OutputPerMTok: *c.OutputPrice}, nil
}

// headers turns the --header flags into a map.
func (c *modelRegisterCmd) headers() (map[string]string, error) {
	if len(c.Header) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(c.Header))
	for _, h := range c.Header {
		name, value, ok := strings.Cut(h, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--header %q is not NAME=VALUE: write --header 'X-Title=my flows' or --header 'Authorization=secret:NAME/KEY'", h)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--header %s is given twice: give each header once", name)
		}
		out[name] = value
	}
	return out, nil
}

func (c *modelRegisterCmd) Run(g *Globals, stdio *IO) error {
	price, err := c.price()
	if err != nil {
		return usageErr(err)
	}
	headers, err := c.headers()
	if err != nil {
		return usageErr(err)
	}
	reg, err := providers.LoadLocal()
	if err != nil {
		return err
	}
	old, had := reg.Aliases[c.Alias]
	replaced, err := reg.Put(c.Alias, providers.Alias{Model: c.Model, Secret: c.Secret, Price: price, BaseURL: c.BaseURL, Headers: headers})
	if err != nil {
		return usageErr(err)
	}
	if err := providers.SaveLocal(reg); err != nil {
		return err
	}
	now := reg.Aliases[c.Alias]
	isDefault := reg.Default == c.Alias
	if g.wantJSON() {
		out := struct {
			modelEntry
			Replaced bool          `json:"replaced"`
			Previous *modelEntry   `json:"previous,omitempty"`
			Shadowed *modelOverlay `json:"shadowed_by,omitempty"`
		}{modelEntry: newModelEntry(c.Alias, now, "local", isDefault), Replaced: replaced}
		if had {
			prev := newModelEntry(c.Alias, old, "local", false)
			out.Previous = &prev
		}
		if shadow := overlayAlias(c.Alias); shadow != nil {
			out.Shadowed = shadow
		}
		return writeJSON(stdio.Stdout, out)
	}
	desc := describeAlias(now)
	if replaced {
		fmt.Fprintf(stdio.Stdout, "Replaced alias %s: was %s, now %s", c.Alias, describeAlias(old), desc)
	} else {
		fmt.Fprintf(stdio.Stdout, "Registered alias %s → %s", c.Alias, desc)
	}
	if isDefault {
		fmt.Fprint(stdio.Stdout, "; it is the default")
	}
	fmt.Fprintln(stdio.Stdout)
	if price != nil {
		fmt.Fprintf(stdio.Stdout, "Costs use $%g per million input tokens and $%g per million output tokens.\n", price.InputPerMTok, price.OutputPerMTok)
	} else if _, known := providers.AliasPriceOf(now.Model, now.BaseURL); !known {
		where := ""
		if now.BaseURL != "" {
			where = " at " + now.BaseURL
		}
		fmt.Fprintf(stdio.Stdout, "kitaru has no price for %s%s, so runs record no cost; add --input-price and --output-price to track it.\n", now.Model, where)
	}
	key := providers.KeyVar(now.Model)
	switch {
	case key == "":
	case now.BaseURL != "" && now.Secret == "" && !sendsKey(now):
		fmt.Fprintf(stdio.Stdout, "No key is sent to %s (fine for a local server); for one that needs a key, add --header 'Authorization=secret:NAME/KEY'.\n", now.BaseURL)
	case now.BaseURL == "" && now.Secret == "":
		fmt.Fprintf(stdio.Stdout, "No secret linked: calls will need %s in the environment (or re-register with --secret NAME).\n", key)
	}
	for _, note := range registerNotes(now) {
		fmt.Fprintln(stdio.Stderr, note)
	}
	if shadow := overlayAlias(c.Alias); shadow != nil {
		fmt.Fprintf(stdio.Stderr, "Note: %s also defines %s (→ %s), which wins while it is set.\n", providers.EnvModelRegistry, c.Alias, shadow.Model)
	}
	return nil
}

// sendsKey says whether a's headers carry the provider's key: the header
// the provider's client sends it in names a secret or a variable.
func sendsKey(a providers.Alias) bool {
	for name, v := range a.Headers {
		if hv, err := providers.ParseHeaderValue(v); err == nil && hv.IsRef() && (name == "Authorization" || name == "X-Api-Key") {
			return true
		}
	}
	return false
}

// registerNotes warns about the secrets a cannot be served by: its linked
// secret (for the provider's key) and those its headers name.
func registerNotes(a providers.Alias) []string {
	var notes []string
	if a.Secret != "" {
		if note := secretNote(a.Secret, a.Model); note != "" {
			notes = append(notes, note)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(a.Headers)) {
		hv, err := providers.ParseHeaderValue(a.Headers[name])
		if err != nil || hv.Secret == "" {
			continue
		}
		if note := secretKeyNote(hv.Secret, hv.Key, ""); note != "" {
			notes = append(notes, note)
		}
	}
	return notes
}

// secretNote warns when the linked secret cannot serve the model.
func secretNote(secret, model string) string {
	key := providers.KeyVar(model)
	if key == "" {
		return fmt.Sprintf("Note: %s needs no API key; secret %s will not be used.", model, secret)
	}
	return secretKeyNote(secret, key, fmt.Sprintf("export %s=… instead: the environment wins over secrets", key))
}

// secretKeyNote warns when secret lacks key; orElse, if any, is what to
// do instead when the keyring is not reachable. It reads only the index
// of secret names, never the keyring itself, so it is quick and works on
// machines without one; when even that fails it says nothing.
func secretKeyNote(secret, key, orElse string) string {
	store, err := keyring.Open(keyring.Options{})
	if err != nil {
		return ""
	}
	list, err := store.List()
	if err != nil {
		return ""
	}
	for _, s := range list {
		if s.Name == secret {
			if slices.Contains(s.Keys, key) {
				return ""
			}
			return fmt.Sprintf("Note: secret %s has no key %s yet; add it with: kitaru secrets set %s --%s=…", secret, key, secret, key)
		}
	}
	if store.Check() != nil {
		note := fmt.Sprintf("Note: secret %s does not exist yet, and the OS keyring is not reachable here to store it (see `kitaru status`)", secret)
		if orElse == "" {
			return note + "."
		}
		return note + ";\n" + orElse + "."
	}
	return fmt.Sprintf("Note: secret %s does not exist yet; create it with: kitaru secrets set %s --%s=…", secret, secret, key)
}

// describeAlias: "openai/gpt-4o-mini (secret openai-creds)", with the
// alias's own server and headers when it has them.
func describeAlias(a providers.Alias) string {
	out := a.Model
	if a.BaseURL != "" {
		out += " at " + a.BaseURL
	}
	var extra []string
	if a.Secret != "" {
		extra = append(extra, "secret "+a.Secret)
	}
	if len(a.Headers) > 0 {
		extra = append(extra, "headers "+headerList(a.Headers))
	}
	if len(extra) > 0 {
		out += " (" + strings.Join(extra, "; ") + ")"
	}
	return out
}

// headerList: "Authorization=secret:groq-creds/GROQ_API_KEY, X-Title=x",
// sorted; the values as registered, so references show as references.
func headerList(h map[string]string) string {
	parts := make([]string, 0, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		parts = append(parts, name+"="+h[name])
	}
	return strings.Join(parts, ", ")
}

type modelOverlay struct {
	Model   string `json:"model"`
	Secret  string `json:"secret,omitempty"`
	BaseURL string `json:"base_url,omitempty"`
}

// overlayAlias returns alias as KITARU_MODEL_REGISTRY defines it, if it does.
func overlayAlias(alias string) *modelOverlay {
	env, ok, err := providers.EnvRegistry(os.Getenv)
	if err != nil || !ok {
		return nil
	}
	if a, ok := env.Aliases[alias]; ok {
		return &modelOverlay{Model: a.Model, Secret: a.Secret, BaseURL: a.BaseURL}
	}
	return nil
}

// mergedRegistry is the registry calls resolve with, and the aliases of
// it that KITARU_MODEL_REGISTRY defines.
func mergedRegistry() (merged providers.Registry, fromEnv map[string]bool, err error) {
	local, err := providers.LoadLocal()
	if err != nil {
		return providers.Registry{}, nil, err
	}
	env, envSet, err := providers.EnvRegistry(os.Getenv)
	if err != nil {
		return providers.Registry{}, nil, usageErr(err)
	}
	if !envSet {
		return local, nil, nil
	}
	fromEnv = map[string]bool{}
	for name := range env.Aliases {
		fromEnv[name] = true
	}
	return providers.Merge(env, local), fromEnv, nil
}

func aliasSource(name string, fromEnv map[string]bool) string {
	if fromEnv[name] {
		return providers.EnvModelRegistry
	}
	return "local"
}

type modelListCmd struct{}

func (c *modelListCmd) Help() string {
	return `Lists the local aliases and those KITARU_MODEL_REGISTRY adds or
overrides, and marks the default. Aliases with a server of their own show
its base URL and their headers (as registered: a header naming a secret
shows the name, never the value).

Example:

    kitaru model list
    kitaru model list --json`
}

func (c *modelListCmd) Run(g *Globals, stdio *IO) error {
	merged, fromEnv, err := mergedRegistry()
	if err != nil {
		return err
	}
	entries := make([]modelEntry, 0, len(merged.Aliases))
	endpoints := false
	for _, name := range merged.Names() {
		a := merged.Aliases[name]
		entries = append(entries, newModelEntry(name, a, aliasSource(name, fromEnv), name == merged.Default))
		endpoints = endpoints || a.BaseURL != "" || len(a.Headers) > 0
	}
	envDefault := os.Getenv(providers.EnvDefaultModel)
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Default      string       `json:"default"`
			DefaultModel string       `json:"default_model_env,omitempty"`
			Aliases      []modelEntry `json:"aliases"`
		}{merged.Default, envDefault, entries})
	}
	if len(entries) == 0 {
		fmt.Fprintln(stdio.Stdout, "No model aliases yet. Register one:")
		fmt.Fprintln(stdio.Stdout, "  kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds")
	} else {
		tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
		// The endpoint columns only when an alias has one: most
		// registries have none, and the table stays narrow.
		head := "ALIAS\tMODEL\tSECRET\tDEFAULT\tSOURCE"
		if endpoints {
			head += "\tBASE URL\tHEADERS"
		}
		fmt.Fprintln(tw, head)
		for _, e := range entries {
			def := ""
			if e.Default {
				def = "*"
			}
			row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", e.Alias, e.Model, dash(e.Secret), def, e.Source)
			if endpoints {
				row += fmt.Sprintf("\t%s\t%s", dash(e.BaseURL), dash(headerList(e.Headers)))
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
		if merged.Default != "" {
			if _, ok := merged.Aliases[merged.Default]; !ok {
				fmt.Fprintf(stdio.Stdout, "The default alias %q is not registered; pick one with: kitaru model default ALIAS\n", merged.Default)
			}
		}
	}
	if envDefault != "" {
		fmt.Fprintf(stdio.Stdout, "Steps that name no model use %s=%s, which comes before the default alias.\n", providers.EnvDefaultModel, envDefault)
	}
	return nil
}

type modelShowCmd struct {
	Alias string `arg:"" help:"The alias to show."`
}

func (c *modelShowCmd) Help() string {
	return `Shows one alias as calls resolve it: its model, the server its calls go
to and what set it, the headers sent (a header naming a secret shows the
name, never the value), where its key comes from, and its price.

Example:

    kitaru model show fast
    kitaru model show groq --json`
}

// modelShow is `model show --json`: the entry, and how a call uses it.
type modelShow struct {
	modelEntry
	Endpoint     string           `json:"endpoint"`      // the base URL calls go to
	EndpointFrom string           `json:"endpoint_from"` // "alias", the provider's variable, or "default"
	KeyFrom      []string         `json:"key_from"`      // where the key is looked for, in order
	KnownPrice   *providers.Price `json:"known_price,omitempty"`
}

func (c *modelShowCmd) Run(g *Globals, stdio *IO) error {
	merged, fromEnv, err := mergedRegistry()
	if err != nil {
		return err
	}
	a, err := merged.Lookup(c.Alias)
	if err != nil {
		return usageErr(err)
	}
	out := modelShow{modelEntry: newModelEntry(c.Alias, a, aliasSource(c.Alias, fromEnv), merged.Default == c.Alias)}
	out.Endpoint, out.EndpointFrom = providers.Endpoint(a, os.Getenv)
	out.KeyFrom = keySources(a)
	if a.Price == nil {
		if p, ok := providers.AliasPriceOf(a.Model, a.BaseURL); ok {
			out.KnownPrice = &p
		}
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, out)
	}
	w := stdio.Stdout
	def := ""
	if out.Default {
		def = " (the default)"
	}
	fmt.Fprintf(w, "alias     %s%s, from %s\n", c.Alias, def, out.Source)
	fmt.Fprintf(w, "model     %s\n", a.Model)
	from := out.EndpointFrom
	switch from {
	case "alias":
		from = "the alias's --base-url"
	case "default":
		from = "the provider's default"
	}
	fmt.Fprintf(w, "endpoint  %s (%s)\n", out.Endpoint, from)
	for i, name := range slices.Sorted(maps.Keys(a.Headers)) {
		label := "headers  "
		if i > 0 {
			label = "         "
		}
		fmt.Fprintf(w, "%s %s: %s\n", label, name, a.Headers[name])
	}
	key := "none needed"
	if len(out.KeyFrom) > 0 {
		key = strings.Join(out.KeyFrom, ", then ")
	}
	fmt.Fprintf(w, "key       %s\n", key)
	switch p := cmpOrPrice(a.Price, out.KnownPrice); {
	case p == nil:
		fmt.Fprintln(w, "price     unknown: runs record no cost (register again with --input-price and --output-price)")
	default:
		fmt.Fprintf(w, "price     $%g in, $%g out per million tokens\n", p.InputPerMTok, p.OutputPerMTok)
	}
	return nil
}

func cmpOrPrice(a, b *providers.Price) *providers.Price {
	if a != nil {
		return a
	}
	return b
}

// keySources says where a call of a looks for the provider's key, in
// order: the environment only for the provider's own endpoint.
func keySources(a providers.Alias) []string {
	var out []string
	key := providers.KeyVar(a.Model)
	if key != "" && a.BaseURL == "" {
		out = append(out, key+" in the environment")
	}
	if key != "" && a.Secret != "" {
		out = append(out, fmt.Sprintf("key %s of secret %s", key, a.Secret))
	}
	for _, name := range slices.Sorted(maps.Keys(a.Headers)) {
		hv, err := providers.ParseHeaderValue(a.Headers[name])
		switch {
		case err != nil:
		case hv.Secret != "":
			out = append(out, fmt.Sprintf("header %s from key %s of secret %s", name, hv.Key, hv.Secret))
		case hv.Env != "":
			out = append(out, fmt.Sprintf("header %s from %s in the environment", name, hv.Env))
		}
	}
	if len(out) == 0 && key != "" {
		out = append(out, "nothing: no key is sent")
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type modelRemoveCmd struct {
	Alias string `arg:"" help:"The alias to remove."`
}

func (c *modelRemoveCmd) Help() string {
	return `Removes a local alias. Flows that name it fail to resolve until it is
registered again.

Example:

    kitaru model remove fast`
}

func (c *modelRemoveCmd) Run(g *Globals, stdio *IO) error {
	reg, err := providers.LoadLocal()
	if err != nil {
		return err
	}
	wasDefault := reg.Default == c.Alias
	if err := reg.Remove(c.Alias); err != nil {
		if overlayAlias(c.Alias) != nil {
			return usageErr(fmt.Errorf("alias %q comes from %s, not the local registry; change that variable instead", c.Alias, providers.EnvModelRegistry))
		}
		return usageErr(err)
	}
	if err := providers.SaveLocal(reg); err != nil {
		return err
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Removed    string `json:"removed"`
			WasDefault bool   `json:"was_default"`
			Default    string `json:"default"`
		}{c.Alias, wasDefault, reg.Default})
	}
	fmt.Fprintf(stdio.Stdout, "Removed alias %s.\n", c.Alias)
	if wasDefault {
		fmt.Fprintln(stdio.Stdout, "It was the default; there is no default alias now. Pick one with: kitaru model default ALIAS")
	}
	return nil
}

type modelDefaultCmd struct {
	Alias string `arg:"" help:"The alias to make the default."`
}

func (c *modelDefaultCmd) Help() string {
	return `Makes ALIAS the model that llm steps use when neither the step, the
flow's defaults nor KITARU_DEFAULT_MODEL name one.

Example:

    kitaru model default smart`
}

func (c *modelDefaultCmd) Run(g *Globals, stdio *IO) error {
	reg, err := providers.LoadLocal()
	if err != nil {
		return err
	}
	if err := reg.SetDefault(c.Alias); err != nil {
		if overlayAlias(c.Alias) != nil {
			return usageErr(fmt.Errorf("alias %q comes from %s; register it locally first (kitaru model register %s --model …) or set \"default\" in that variable", c.Alias, providers.EnvModelRegistry, c.Alias))
		}
		return usageErr(err)
	}
	if err := providers.SaveLocal(reg); err != nil {
		return err
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Default string `json:"default"`
			Model   string `json:"model"`
		}{c.Alias, reg.Aliases[c.Alias].Model})
	}
	fmt.Fprintf(stdio.Stdout, "Default model alias is now %s → %s.\n", c.Alias, reg.Aliases[c.Alias].Model)
	if env, ok, _ := providers.EnvRegistry(os.Getenv); ok && env.Default != "" && env.Default != c.Alias {
		fmt.Fprintf(stdio.Stderr, "Note: %s sets the default to %s, which wins while it is set.\n", providers.EnvModelRegistry, env.Default)
	}
	return nil
}
