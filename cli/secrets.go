package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kitaruhq/kitaru/keyring"
	"golang.org/x/term"
)

// kitaru secrets ...: named sets of KEY=VALUE pairs in the OS keyring.

type secretsCmd struct {
	Set    secretSetCmd    `cmd:"" help:"Create a secret, or update the keys given: kitaru secrets set NAME --KEY=VALUE..."`
	Show   secretShowCmd   `cmd:"" aliases:"get" help:"Show a secret's keys, values masked unless --show-values."`
	List   secretListCmd   `cmd:"" help:"List secret names and their keys (never values)."`
	Delete secretDeleteCmd `cmd:"" help:"Delete a secret from the keyring."`
}

func (c *secretsCmd) Help() string {
	return `A secret is a name holding KEY=VALUE pairs, such as a provider key. Values
live only in the OS keyring (service "kitaru"); kitaru's config directory
keeps the names and key names, never values.

An alias uses a secret with 'kitaru model register ALIAS --model M --secret
NAME'; a provider's environment variable (OPENAI_API_KEY, ...) wins over it.

Without a keyring (a server, a container), either start one:

    dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; kitaru ...'

or opt in to a plain file, NOT encrypted, mode 0600 in the config directory:

    export KITARU_SECRETS_BACKEND=file`
}

type secretSetCmd struct {
	Name  string   `arg:"" help:"The secret's name: lowercase letters, digits, '_', '.', '-' (e.g. openai-creds)."`
	Pairs []string `name:"pair" sep:"none" placeholder:"KEY=VALUE" help:"A pair to store; normally written --KEY=VALUE."`
	// Pairs arrive rewritten as --pair (see rewriteSecretSetArgs); Extra
	// documents the --KEY=VALUE spelling in the usage line and catches
	// stray words, such as the value of '--KEY VALUE', to explain them.
	Extra []string `arg:"" optional:"" name:"--KEY=VALUE" help:"The pairs to store, each one argument."`
}

func (c *secretSetCmd) Help() string {
	return `Creates the secret NAME with the pairs given, or, when it exists, sets the
keys given and keeps the others. Keys match ^[A-Za-z_][A-Za-z0-9_]*$ (they
may become environment variables of a run step); values must not be empty;
give each key once. Write each pair as one argument, --KEY=VALUE.

A run masks a secret's values as *** in all it records, but only values of
at least 6 characters: masking a shorter one (N=1) would rewrite ordinary
text, so it is recorded as is, and set warns about it.

Values on a command line may be kept in your shell history. Give a key
with no value (--KEY, or --KEY=-) and its value is read instead: typed at
the terminal without being shown, or, when stdin is not a terminal, read
from it whole (one key only; a final newline is dropped).

Examples:

    kitaru secrets set openai-creds --OPENAI_API_KEY
    kitaru secrets set search --SERPER_API_KEY=abc --REGION=eu
    kitaru secrets set openai-creds --OPENAI_API_KEY < ~/.openai-key`
}

func (c *secretSetCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	if len(c.Extra) > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q: give each pair as one argument, --KEY=VALUE", c.Extra[0]))
	}
	pairs, err := readAskedValues(ctx, c.Pairs, stdio)
	if err != nil {
		return err
	}
	values, err := keyring.ParsePairs(pairs)
	if err != nil {
		return secretErr(err)
	}
	if len(values) == 0 {
		return usageErr(fmt.Errorf("give at least one pair: kitaru secrets set %s --KEY=VALUE", c.Name))
	}
	store, err := openSecrets(stdio)
	if err != nil {
		return err
	}
	created, err := store.Set(c.Name, values)
	if err != nil {
		return secretErr(err)
	}
	keys := secretKeys(values)
	var short []string
	for _, k := range keys {
		if !keyring.Maskable(values[k]) {
			short = append(short, k)
			fmt.Fprintf(stdio.Stderr, "kitaru: warning: the value of %s is shorter than %d characters, so it cannot be masked: "+
				"a step using secret %s records it as is wherever it appears (masking so short a value would rewrite ordinary text, such as every 1 of an output)\n",
				k, keyring.MinMaskedLen, c.Name)
		}
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Name    string   `json:"name"`
			Created bool     `json:"created"`
			Keys    []string `json:"keys"`
			Backend string   `json:"backend"`
			// Unmasked are the keys whose values are too short to mask.
			Unmasked []string `json:"unmasked,omitempty"`
		}{c.Name, created, keys, store.Backend(), short})
	}
	verb := "Updated"
	if created {
		verb = "Created"
	}
	fmt.Fprintf(stdio.Stdout, "%s secret %s (keys: %s)\n", verb, c.Name, strings.Join(keys, ", "))
	return nil
}

type secretShowCmd struct {
	Name       string `arg:"" help:"The secret's name: lowercase letters, digits, '_', '.', '-' (e.g. openai-creds)."`
	ShowValues bool   `help:"Print the values instead of ****."`
}

func (c *secretShowCmd) Help() string {
	return `Prints the secret's keys with their values masked, or, with
--show-values, the values themselves. 'get' is another name for 'show'.

Examples:

    kitaru secrets show openai-creds
    kitaru secrets get openai-creds --show-values --json`
}

// masked replaces every value, whatever its length, so nothing about it
// shows.
const masked = "****"

func (c *secretShowCmd) Run(g *Globals, stdio *IO) error {
	store, err := openSecrets(stdio)
	if err != nil {
		return err
	}
	values, err := store.Get(c.Name)
	if err != nil {
		return secretErr(err)
	}
	keys := secretKeys(values)
	shown := make(map[string]string, len(values))
	for k, v := range values {
		shown[k] = masked
		if c.ShowValues {
			shown[k] = v
		}
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Name   string            `json:"name"`
			Keys   []string          `json:"keys"`
			Values map[string]string `json:"values"`
			Masked bool              `json:"masked"`
		}{c.Name, keys, shown, !c.ShowValues})
	}
	fmt.Fprintln(stdio.Stdout, c.Name)
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\n", k, shown[k])
	}
	return tw.Flush()
}

type secretListCmd struct{}

func (c *secretListCmd) Help() string {
	return `Lists every secret with its key names. Values are never shown and the
keyring is not opened: the names come from kitaru's index.

Examples:

    kitaru secrets list
    kitaru secrets list --json`
}

func (c *secretListCmd) Run(g *Globals, stdio *IO) error {
	store, err := openSecrets(stdio)
	if err != nil {
		return err
	}
	list, err := store.List()
	if err != nil {
		return secretErr(err)
	}
	if g.wantJSON() {
		if list == nil {
			list = []keyring.Secret{}
		}
		return writeJSON(stdio.Stdout, list)
	}
	if len(list) == 0 {
		if err := store.Check(); err != nil {
			// Suggesting `secrets set` here would only lead to this error.
			fmt.Fprintln(stdio.Stdout, "No secrets yet.")
			fmt.Fprintf(stdio.Stderr, "kitaru: none can be stored here yet: %v\n", err)
			return nil
		}
		fmt.Fprintln(stdio.Stdout, "No secrets yet. Create one with: kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...")
		return nil
	}
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEYS")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, strings.Join(s.Keys, ", "))
	}
	return tw.Flush()
}

type secretDeleteCmd struct {
	Name string `arg:"" help:"The secret's name: lowercase letters, digits, '_', '.', '-' (e.g. openai-creds)."`
}

func (c *secretDeleteCmd) Help() string {
	return `Deletes the secret from the keyring and from kitaru's index. Aliases
that name it stop finding credentials there.

Example:

    kitaru secrets delete openai-creds`
}

func (c *secretDeleteCmd) Run(g *Globals, stdio *IO) error {
	store, err := openSecrets(stdio)
	if err != nil {
		return err
	}
	if err := store.Delete(c.Name); err != nil {
		return secretErr(err)
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			Name    string `json:"name"`
			Deleted bool   `json:"deleted"`
		}{c.Name, true})
	}
	fmt.Fprintf(stdio.Stdout, "Deleted secret %s\n", c.Name)
	return nil
}

// openSecrets opens the store the environment selects and, for the file
// backend, warns on stderr every time: its values are not encrypted.
func openSecrets(stdio *IO) (*keyring.Store, error) {
	store, err := keyring.Open(keyring.Options{})
	if err != nil {
		return nil, secretErr(err)
	}
	if w := store.Warning(); w != "" {
		fmt.Fprintf(stdio.Stderr, "kitaru: %s\n", w)
	}
	return store, nil
}

// secretErr maps keyring errors to exit codes: what the user typed wrongly
// and unknown secrets exit 2; an unreachable keyring (already explained in
// the error) and anything else exit 1.
func secretErr(err error) error {
	var ue *keyring.UsageError
	switch {
	case errors.As(err, &ue):
		return usageErr(err)
	case errors.Is(err, keyring.ErrNotFound):
		var nf *keyring.NotFoundError
		if errors.As(err, &nf) {
			return usageErr(fmt.Errorf("%w; create it with `kitaru secrets set %s --KEY=VALUE` (`kitaru secrets list` shows the ones there are)", err, nf.Name))
		}
		return usageErr(fmt.Errorf("%w (`kitaru secrets list` shows the ones there are)", err))
	}
	return err
}

func secretKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// flagsOfSecretSet are the flags `secrets set` itself understands; every
// other --NAME=VALUE after `secrets set` is a user's pair.
var flagsOfSecretSet = map[string]bool{"help": true, "json": true, "output": true, "version": true, "pair": true}

// rewriteSecretSetArgs turns `secrets set NAME --KEY=VALUE...` into
// `secrets set NAME --pair=KEY=VALUE...`, because kong only parses flags it
// knows by name. A `--KEY` without '=' becomes `--pair=KEY`, which the
// command rejects with "write --KEY=VALUE". Other commands pass unchanged.
func rewriteSecretSetArgs(args []string) []string {
	at := secretSetIndex(args)
	if at < 0 {
		return args
	}
	out := slices.Clone(args[:at+1])
	rest := args[at+1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return append(out, rest[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case !strings.HasPrefix(a, "--") || flagsOfSecretSet[name]:
			out = append(out, a)
			// A known flag's separate value must not be taken for a pair.
			if (a == "--output" || a == "-o" || a == "--pair") && !hasValue && i+1 < len(rest) {
				i++
				out = append(out, rest[i])
			}
		default:
			out = append(out, "--pair="+strings.TrimPrefix(a, "--"))
		}
	}
	return out
}

// secretSetIndex finds `set` of `secrets set` among the leading words, past
// global flags, or returns -1.
func secretSetIndex(args []string) int {
	var words []int
	for i := 0; i < len(args) && len(words) < 2; i++ {
		a := args[i]
		switch {
		case a == "--":
			return -1
		case a == "-o" || a == "--output":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		default:
			words = append(words, i)
		}
	}
	if len(words) == 2 && args[words[0]] == "secrets" && args[words[1]] == "set" {
		return words[1]
	}
	return -1
}

// readAskedValues fills in the pairs given without a value (KEY, KEY=-):
// typed at the terminal without echo, or read whole from stdin when it is
// not a terminal, so values need not pass through the command line.
func readAskedValues(ctx context.Context, pairs []string, stdio *IO) ([]string, error) {
	var asked []int
	for i, p := range pairs {
		if key, value, ok := strings.Cut(p, "="); !ok || value == "-" {
			pairs[i], asked = key, append(asked, i)
		}
	}
	if len(asked) == 0 {
		return pairs, nil
	}
	out := slices.Clone(pairs)
	f, isFile := stdio.Stdin.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		if len(asked) > 1 {
			return nil, usageErr(fmt.Errorf("keys %s have no value and stdin is not a terminal: only one value can be read from stdin; give the others as --KEY=VALUE", strings.Join(keysAt(pairs, asked), ", ")))
		}
		if stdio.Stdin == nil {
			return nil, usageErr(fmt.Errorf("key %s has no value and there is no stdin to read it from: give --%s=VALUE", pairs[asked[0]], pairs[asked[0]]))
		}
		raw, err := io.ReadAll(io.LimitReader(stdio.Stdin, maxSecretValue+1))
		if err != nil {
			return nil, fmt.Errorf("cannot read the value of %s from stdin: %w", pairs[asked[0]], err)
		}
		if len(raw) > maxSecretValue {
			return nil, usageErr(fmt.Errorf("the value of %s read from stdin is over %d bytes", pairs[asked[0]], maxSecretValue))
		}
		value := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if value == "" {
			return nil, usageErr(fmt.Errorf("key %s has no value and stdin gave none: pipe the value in, type it at a terminal, or write --%s=VALUE", pairs[asked[0]], pairs[asked[0]]))
		}
		out[asked[0]] = pairs[asked[0]] + "=" + value
		return out, nil
	}
	for _, i := range asked {
		restore, err := echoOff(int(f.Fd()))
		if err != nil {
			return nil, fmt.Errorf("cannot hide what is typed at this terminal: %w", err)
		}
		fmt.Fprintf(stdio.Stderr, "value of %s (not shown): ", pairs[i])
		value, err := whileWaiting(ctx, func() ([]byte, error) { return readHidden(int(f.Fd())) })
		restore()
		fmt.Fprintln(stdio.Stderr)
		if ctx.Err() != nil {
			return nil, &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted; nothing was stored")}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the value of %s: %w", pairs[i], err)
		}
		out[i] = pairs[i] + "=" + string(value)
	}
	return out, nil
}

// maxSecretValue bounds a value read from stdin: a key, a token or a
// certificate, not a file someone piped by mistake.
const maxSecretValue = 64 << 10

func keysAt(pairs []string, at []int) []string {
	var keys []string
	for _, i := range at {
		keys = append(keys, pairs[i])
	}
	return keys
}
