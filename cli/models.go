package cli

import (
	"errors"
	"fmt"
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
	Remove   modelRemoveCmd   `cmd:"" help:"Remove a model alias."`
	Default  modelDefaultCmd  `cmd:"" help:"Make an alias the default model."`
}

func (c *modelCmd) Help() string {
	return `An alias names a provider/model and, optionally, the secret that holds
its API key. llm steps name an alias (model: fast) or a raw provider/model;
a step that names neither uses KITARU_DEFAULT_MODEL, then the default alias.
Providers: ` + strings.Join(providers.SupportedProviders, ", ") + `.

Example:

    kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...
    kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
    kitaru model list`
}

type modelRegisterCmd struct {
	Alias  string `arg:"" help:"Alias name: lowercase letters, digits, '-' and '_'."`
	Model  string `required:"" help:"PROVIDER/MODEL, for example openai/gpt-4o-mini." placeholder:"PROVIDER/MODEL"`
	Secret string `help:"Name of the secret holding the provider's API key (see 'kitaru secrets set')." placeholder:"NAME"`
	// Pointers: a price of 0 (a free model) is different from none given.
	InputPrice  *float64 `help:"Price of input tokens in USD per million, overriding kitaru's table (give --output-price too)." placeholder:"USD"`
	OutputPrice *float64 `help:"Price of output tokens in USD per million, overriding kitaru's table (give --input-price too)." placeholder:"USD"`
}

func (c *modelRegisterCmd) Help() string {
	return `Registers ALIAS for a provider/model. Registering an alias that exists
replaces it. The first alias registered becomes the default.

Example:

    kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
    kitaru model register smart --model anthropic/claude-sonnet-4-0 --secret anthropic-creds
    kitaru model register local --model ollama/llama3.2
    kitaru model register cheap --model openrouter/meta-llama/llama-3.1-8b-instruct \
        --secret openrouter-creds --input-price 0.02 --output-price 0.03

Costs come from kitaru's price table for common OpenAI and Anthropic
models; for others give --input-price and --output-price, or no cost is
recorded.`
}

// modelEntry is one alias as `model list --json` and `model register
// --json` print it.
type modelEntry struct {
	Alias   string           `json:"alias"`
	Model   string           `json:"model"`
	Secret  string           `json:"secret,omitempty"`
	Default bool             `json:"default"`
	Source  string           `json:"source"` // "local" or "KITARU_MODEL_REGISTRY"
	Price   *providers.Price `json:"price,omitempty"`
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

func (c *modelRegisterCmd) Run(g *Globals, stdio *IO) error {
	price, err := c.price()
	if err != nil {
		return usageErr(err)
	}
	reg, err := providers.LoadLocal()
	if err != nil {
		return err
	}
	old, had := reg.Aliases[c.Alias]
	replaced, err := reg.Register(c.Alias, c.Model, c.Secret)
	if err != nil {
		return usageErr(err)
	}
	if price != nil {
		a := reg.Aliases[c.Alias]
		a.Price = price
		reg.Aliases[c.Alias] = a
	}
	if err := providers.SaveLocal(reg); err != nil {
		return err
	}
	isDefault := reg.Default == c.Alias
	if g.wantJSON() {
		out := struct {
			modelEntry
			Replaced bool          `json:"replaced"`
			Previous *modelEntry   `json:"previous,omitempty"`
			Shadowed *modelOverlay `json:"shadowed_by,omitempty"`
		}{modelEntry: modelEntry{Alias: c.Alias, Model: c.Model, Secret: c.Secret, Default: isDefault, Source: "local", Price: price}, Replaced: replaced}
		if had {
			out.Previous = &modelEntry{Alias: c.Alias, Model: old.Model, Secret: old.Secret, Source: "local", Price: old.Price}
		}
		if shadow := overlayAlias(c.Alias); shadow != nil {
			out.Shadowed = shadow
		}
		return writeJSON(stdio.Stdout, out)
	}
	desc := describeAlias(c.Model, c.Secret)
	if replaced {
		fmt.Fprintf(stdio.Stdout, "Replaced alias %s: was %s, now %s", c.Alias, describeAlias(old.Model, old.Secret), desc)
	} else {
		fmt.Fprintf(stdio.Stdout, "Registered alias %s → %s", c.Alias, desc)
	}
	if isDefault {
		fmt.Fprint(stdio.Stdout, "; it is the default")
	}
	fmt.Fprintln(stdio.Stdout)
	if price != nil {
		fmt.Fprintf(stdio.Stdout, "Costs use $%g per million input tokens and $%g per million output tokens.\n", price.InputPerMTok, price.OutputPerMTok)
	} else if _, known := providers.PriceOf(c.Model); !known {
		fmt.Fprintf(stdio.Stdout, "kitaru has no price for %s, so runs record no cost; add --input-price and --output-price to track it.\n", c.Model)
	}
	if c.Secret == "" {
		if key := providerKeyVar(c.Model); key != "" {
			fmt.Fprintf(stdio.Stdout, "No secret linked: calls will need %s in the environment (or re-register with --secret NAME).\n", key)
		}
	}
	if c.Secret != "" {
		if note := secretNote(c.Secret, c.Model); note != "" {
			fmt.Fprintln(stdio.Stderr, note)
		}
	}
	if shadow := overlayAlias(c.Alias); shadow != nil {
		fmt.Fprintf(stdio.Stderr, "Note: %s also defines %s (→ %s), which wins while it is set.\n", providers.EnvModelRegistry, c.Alias, shadow.Model)
	}
	return nil
}

// secretNote warns when the linked secret cannot serve the model. It reads
// only the index of secret names, never the keyring itself, so it is quick
// and works on machines without one; when even that fails it says nothing.
func secretNote(secret, model string) string {
	key := providerKeyVar(model)
	if key == "" {
		return fmt.Sprintf("Note: %s needs no API key; secret %s will not be used.", model, secret)
	}
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
		return fmt.Sprintf("Note: secret %s does not exist yet, and the OS keyring is not reachable here to store it (see `kitaru status`);\n"+
			"export %s=… instead: the environment wins over secrets.", secret, key)
	}
	return fmt.Sprintf("Note: secret %s does not exist yet; create it with: kitaru secrets set %s --%s=…", secret, secret, key)
}

func describeAlias(model, secret string) string {
	if secret == "" {
		return model
	}
	return fmt.Sprintf("%s (secret %s)", model, secret)
}

// providerKeyVar is the environment variable holding model's provider key,
// "" for providers that need none.
func providerKeyVar(model string) string {
	switch p, _, _ := strings.Cut(model, "/"); p {
	case "openai":
		return "OPENAI_API_KEY"
	case "anthropic":
		return "ANTHROPIC_API_KEY"
	case "openrouter":
		return "OPENROUTER_API_KEY"
	}
	return ""
}

type modelOverlay struct {
	Model  string `json:"model"`
	Secret string `json:"secret,omitempty"`
}

// overlayAlias returns alias as KITARU_MODEL_REGISTRY defines it, if it does.
func overlayAlias(alias string) *modelOverlay {
	env, ok, err := providers.EnvRegistry(os.Getenv)
	if err != nil || !ok {
		return nil
	}
	if a, ok := env.Aliases[alias]; ok {
		return &modelOverlay{Model: a.Model, Secret: a.Secret}
	}
	return nil
}

type modelListCmd struct{}

func (c *modelListCmd) Help() string {
	return `Lists the local aliases and those KITARU_MODEL_REGISTRY adds or
overrides, and marks the default.

Example:

    kitaru model list
    kitaru model list --json`
}

func (c *modelListCmd) Run(g *Globals, stdio *IO) error {
	local, err := providers.LoadLocal()
	if err != nil {
		return err
	}
	env, envSet, err := providers.EnvRegistry(os.Getenv)
	if err != nil {
		return usageErr(err)
	}
	merged := local
	if envSet {
		merged = providers.Merge(env, local)
	}
	entries := make([]modelEntry, 0, len(merged.Aliases))
	for _, name := range merged.Names() {
		a := merged.Aliases[name]
		src := "local"
		if _, ok := env.Aliases[name]; ok && envSet {
			src = providers.EnvModelRegistry
		}
		entries = append(entries, modelEntry{Alias: name, Model: a.Model, Secret: a.Secret, Default: name == merged.Default, Source: src, Price: a.Price})
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
		fmt.Fprintln(tw, "ALIAS\tMODEL\tSECRET\tDEFAULT\tSOURCE")
		for _, e := range entries {
			def := ""
			if e.Default {
				def = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Alias, e.Model, dash(e.Secret), def, e.Source)
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
