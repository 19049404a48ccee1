package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/engine/temporal"
	"github.com/kitaruhq/kitaru/internal/fsutil"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// Owned by the terminal-view work: kitaru status.

type statusCmd struct{}

func (c *statusCmd) Help() string {
	return `Shows what kitaru would use right now: where runs and settings live,
whether the OS keyring answers, the model aliases, and which kitaru and
provider environment variables are set (secret values masked).

Example:

    kitaru status
    kitaru status --json`
}

// statusReport is what `kitaru status --json` prints.
type statusReport struct {
	Version     string           `json:"version"`
	StateDir    string           `json:"state_dir"`
	ConfigDir   string           `json:"config_dir"`
	Keyring     statusKeyring    `json:"keyring"`
	Default     string           `json:"default_alias,omitempty"`
	Aliases     []statusAlias    `json:"aliases"`
	Environment []statusVariable `json:"environment"`
	Store       statusStore      `json:"store"`
	Temporal    *statusTemporal  `json:"temporal,omitempty"` // only with KITARU_TEMPORAL_ADDRESS
	Runs        *int             `json:"runs"`               // null when the store could not be read
	Problems    []string         `json:"problems,omitempty"`
}

// statusStore is the run store: which, where, and whether it answers.
type statusStore struct {
	Kind          string `json:"kind"`     // "files" or "postgres"
	Location      string `json:"location"` // the directory, or the URL without its password
	Reachable     bool   `json:"reachable"`
	SchemaVersion int    `json:"schema_version,omitempty"`
	Error         string `json:"error,omitempty"`
	outOfReach    bool   // the error is the server out of reach
}

// statusTemporal is where runs execute on Temporal, whether it answers,
// and how many workers poll the task queue.
type statusTemporal struct {
	Address   string `json:"address"`
	Namespace string `json:"namespace"`
	TaskQueue string `json:"task_queue"`
	Reachable bool   `json:"reachable"`
	Workers   *int   `json:"workers,omitempty"`
	Error     string `json:"error,omitempty"`
}

type statusKeyring struct {
	Backend   string   `json:"backend,omitempty"`
	Reachable bool     `json:"reachable"`
	Error     string   `json:"error,omitempty"` // what is wrong and what to do
	Warning   string   `json:"warning,omitempty"`
	Secrets   []string `json:"secrets"` // names only, from the index
}

type statusAlias struct {
	Alias   string `json:"alias"`
	Model   string `json:"model"`
	Secret  string `json:"secret,omitempty"`
	Default bool   `json:"default"`
	BaseURL string `json:"base_url,omitempty"` // the server it goes to, when not the provider's own
	Source  string `json:"source"`             // "local" or "KITARU_MODEL_REGISTRY"
	// Overridden marks a local alias that KITARU_MODEL_REGISTRY replaces.
	Overridden bool `json:"overridden,omitempty"`
}

type statusVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"` // masked for keys and tokens
}

const envRegistryVar = providers.EnvModelRegistry

// The sources status reads, as seams: each package owns how its part is
// found, and tests can run status against a temporary home.
var (
	// statusKeyringCheck opens the secret store and says whether it answers.
	statusKeyringCheck = func() statusKeyring {
		st, err := keyring.Open(keyring.Options{})
		if err != nil {
			return statusKeyring{Error: err.Error(), Secrets: []string{}}
		}
		rep := statusKeyring{Backend: st.Backend(), Warning: st.Warning(), Secrets: []string{}}
		if err := st.Check(); err != nil {
			rep.Error = err.Error()
		} else {
			rep.Reachable = true
		}
		// The names come from the index on disk: listing works even when
		// the keyring itself does not answer.
		if list, err := st.List(); err == nil {
			for _, s := range list {
				rep.Secrets = append(rep.Secrets, s.Name)
			}
		}
		return rep
	}
	// statusRegistries are the local registry and, when set, the one in
	// KITARU_MODEL_REGISTRY.
	statusRegistries = func(getenv func(string) string) (local, env providers.Registry, envSet bool, err error) {
		local, err = providers.LoadLocal()
		if err != nil {
			return local, env, false, err
		}
		env, envSet, err = providers.EnvRegistry(getenv)
		return local, env, envSet, err
	}
	// statusRunCount counts the runs stored, through the engine (cli does
	// not read the store's files itself).
	statusRunCount = func(ctx context.Context, rep *statusReport) (int, error) {
		rep.Store = statusStore{Kind: "files", Location: rep.StateDir}
		if ref := os.Getenv(storeEnv); ref != "" {
			kind := "postgres"
			if !pgstore.IsURL(ref) {
				kind = "unknown"
			}
			rep.Store = statusStore{Kind: kind, Location: pgstore.Redact(ref)}
		}
		st, err := openStore(ctx)
		if err != nil {
			rep.Store.Error, rep.Store.outOfReach = explain(err), errors.Is(err, pgstore.ErrUnreachable)
			return 0, err
		}
		if pg, ok := st.(*pgstore.Store); ok {
			if err := pg.Ping(ctx); err != nil {
				rep.Store.Error, rep.Store.outOfReach = explain(err), errors.Is(err, pgstore.ErrUnreachable)
				return 0, err
			}
			rep.Store.SchemaVersion = pg.SchemaVersion()
		}
		rep.Store.Reachable = true
		runs, err := engine.New(engine.Config{Store: st}).List(ctx, engine.ListFilter{})
		return len(runs), err
	}
)

// statusTemporalCheck connects to Temporal as KITARU_TEMPORAL_* say; nil
// when runs execute in this process.
var statusTemporalCheck = func(ctx context.Context) *statusTemporal {
	tc, ok := temporalFromEnv()
	if !ok {
		return nil
	}
	rep := &statusTemporal{Address: tc.Address, Namespace: tc.Namespace, TaskQueue: tc.TaskQueue}
	c, err := dialTemporal(ctx, tc)
	if err != nil {
		rep.Error = explain(err)
		return rep
	}
	rep.Reachable = true
	n, err := temporal.Pollers(ctx, c, tc.Namespace, tc.TaskQueue)
	if err != nil {
		rep.Error = explain(err)
		return rep
	}
	rep.Workers = &n
	return rep
}

func (c *statusCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	rep := gatherStatus(ctx, os.Getenv, os.Environ())
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, rep)
	}
	writeStatus(stdio.Stdout, rep)
	return nil
}

// gatherStatus collects the report. Nothing here fails the command: a part
// that cannot be read is reported as a problem, since status is what a user
// runs when something is wrong.
func gatherStatus(ctx context.Context, getenv func(string) string, environ []string) *statusReport {
	rep := &statusReport{Version: Version, Aliases: []statusAlias{}, Environment: []statusVariable{}}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	if d, err := fsutil.DataDir(); err != nil {
		problem("%v", err)
	} else {
		rep.StateDir = d
	}
	if d, err := fsutil.ConfigDir(); err != nil {
		problem("%v", err)
	} else {
		rep.ConfigDir = d
	}

	rep.Keyring = statusKeyringCheck()

	local, envReg, envSet, err := statusRegistries(getenv)
	if err != nil {
		problem("%v", err)
	}
	rep.Default = local.Default
	if envSet && envReg.Default != "" {
		rep.Default = envReg.Default
	}
	for name, a := range local.Aliases {
		_, overlaid := envReg.Aliases[name]
		rep.Aliases = append(rep.Aliases, statusAlias{Alias: name, Model: a.Model, Secret: a.Secret, BaseURL: a.BaseURL, Source: "local", Overridden: envSet && overlaid})
	}
	if envSet {
		for name, a := range envReg.Aliases {
			rep.Aliases = append(rep.Aliases, statusAlias{Alias: name, Model: a.Model, Secret: a.Secret, BaseURL: a.BaseURL, Source: envRegistryVar})
		}
	}
	// By name; the alias in effect before the local one it replaces.
	sort.Slice(rep.Aliases, func(i, j int) bool {
		a, b := rep.Aliases[i], rep.Aliases[j]
		if a.Alias != b.Alias {
			return a.Alias < b.Alias
		}
		return !a.Overridden
	})
	for i := range rep.Aliases {
		rep.Aliases[i].Default = rep.Aliases[i].Alias == rep.Default && !rep.Aliases[i].Overridden
	}

	rep.Environment = statusEnvironment(environ)

	rep.Temporal = statusTemporalCheck(ctx)
	if t := rep.Temporal; t != nil && t.Error != "" {
		problem("%s", t.Error)
	}
	if n, err := statusRunCount(ctx, rep); err != nil {
		problem("cannot count the stored runs: %v", err)
	} else {
		rep.Runs = &n
	}
	return rep
}

// providerVars are the provider variables status reports besides KITARU_*.
var providerVars = map[string]bool{
	"OPENAI_API_KEY": true, "ANTHROPIC_API_KEY": true, "OPENROUTER_API_KEY": true, "GEMINI_API_KEY": true,
	"OLLAMA_HOST": true, "XDG_DATA_HOME": true, "XDG_CONFIG_HOME": true, "NO_COLOR": true,
}

// statusEnvironment lists the set variables kitaru reads, sorted, secrets
// masked.
func statusEnvironment(environ []string) []statusVariable {
	out := []statusVariable{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		if !strings.HasPrefix(name, "KITARU_") && !providerVars[name] && !strings.HasSuffix(name, "_BASE_URL") {
			continue
		}
		out = append(out, statusVariable{Name: name, Value: maskEnvValue(name, value)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// maskEnvValue hides what could be a credential: variables whose name ends
// in KEY, TOKEN, SECRET, PASSWORD (...) show their first 3 characters (enough to
// tell sk-... from sk-ant-...) and only when the value is long enough that
// those give nothing away.
func maskEnvValue(name, value string) string {
	words := strings.Split(strings.ToUpper(name), "_")
	last := words[len(words)-1]
	for _, w := range []string{"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "PAT"} {
		if last == w {
			if r := []rune(value); len(r) >= 12 {
				return string(r[:3]) + "…"
			}
			return "…"
		}
	}
	if pgstore.IsURL(value) {
		return pgstore.Redact(value)
	}
	// A URL may carry a password (https://user:pass@host): hide that part.
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "…")
			value = u.String()
			value = strings.Replace(value, "%E2%80%A6", "…", 1)
		}
	}
	// Long values (a whole registry, a mock response) are cut, not hidden.
	return textcut.Runes(strings.ReplaceAll(value, "\n", "\\n"), 80)
}

// writeStatus prints the report for a person.
func writeStatus(w io.Writer, rep *statusReport) {
	fmt.Fprintf(w, "kitaru %s\n\n", rep.Version)
	fmt.Fprintf(w, "state dir    %s\n", orDash(rep.StateDir))
	fmt.Fprintf(w, "config dir   %s\n", orDash(rep.ConfigDir))
	switch {
	case rep.Keyring.Reachable:
		fmt.Fprintf(w, "keyring      reachable (%s backend)\n", orDash(rep.Keyring.Backend))
	default:
		label := "not reachable"
		if rep.Keyring.Backend != "" {
			label += " (" + rep.Keyring.Backend + " backend)"
		}
		fmt.Fprintf(w, "keyring      %s\n", label)
		for _, l := range strings.Split(strings.TrimSpace(rep.Keyring.Error), "\n") {
			fmt.Fprintf(w, "             %s\n", l)
		}
	}
	if rep.Keyring.Warning != "" {
		fmt.Fprintf(w, "             %s\n", rep.Keyring.Warning)
	}
	if len(rep.Keyring.Secrets) > 0 {
		fmt.Fprintf(w, "secrets      %s\n", strings.Join(rep.Keyring.Secrets, ", "))
	} else if rep.Keyring.Reachable {
		fmt.Fprintf(w, "secrets      none (store one with `kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...`)\n")
	} else {
		fmt.Fprintf(w, "secrets      none (none can be stored until the keyring above is reachable)\n")
	}
	switch {
	case rep.Store.Kind == "postgres" && rep.Store.Reachable:
		fmt.Fprintf(w, "store        %s (PostgreSQL, reachable, schema version %d)\n", rep.Store.Location, rep.Store.SchemaVersion)
	case rep.Store.Kind == "postgres" && rep.Store.outOfReach:
		fmt.Fprintf(w, "store        %s (PostgreSQL, not reachable)\n", rep.Store.Location)
	case rep.Store.Kind == "postgres":
		fmt.Fprintf(w, "store        %s (PostgreSQL, cannot be used)\n", rep.Store.Location)
	case rep.Store.Kind == "unknown":
		fmt.Fprintf(w, "store        %s (not a store kitaru knows)\n", rep.Store.Location)
	default:
		fmt.Fprintf(w, "store        files under the state dir\n")
	}
	if rep.Store.Error != "" {
		for _, l := range strings.Split(rep.Store.Error, "\n") {
			fmt.Fprintf(w, "             %s\n", l)
		}
	}
	if t := rep.Temporal; t != nil {
		state := "not reachable"
		switch {
		case t.Reachable && t.Workers != nil && *t.Workers == 1:
			state = "reachable, 1 worker polling"
		case t.Reachable && t.Workers != nil:
			state = fmt.Sprintf("reachable, %d workers polling", *t.Workers)
		case t.Reachable:
			state = "reachable"
		}
		fmt.Fprintf(w, "temporal     %s namespace %s, task queue %s (%s)\n", t.Address, t.Namespace, t.TaskQueue, state)
	}
	if rep.Runs != nil {
		fmt.Fprintf(w, "runs stored  %d\n", *rep.Runs)
	} else {
		fmt.Fprintf(w, "runs stored  unknown\n")
	}

	fmt.Fprintln(w, "\nmodel aliases")
	if len(rep.Aliases) == 0 {
		fmt.Fprintln(w, "  none: register one with `kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds`")
		fmt.Fprintln(w, "  (or try a flow offline with KITARU_LLM_MOCK_RESPONSE=...)")
	}
	aw, mw := 0, 0
	for _, a := range rep.Aliases {
		aw, mw = max(aw, len(a.Alias)), max(mw, len(a.Model))
	}
	for _, a := range rep.Aliases {
		var notes []string
		if a.Secret != "" {
			notes = append(notes, "secret "+a.Secret)
		}
		if a.Default {
			notes = append(notes, "default")
		}
		if a.BaseURL != "" {
			notes = append(notes, "at "+a.BaseURL)
		}
		if a.Source != "local" {
			notes = append(notes, "from "+a.Source)
		}
		if a.Overridden {
			notes = append(notes, "overridden by "+envRegistryVar)
		}
		line := fmt.Sprintf("  %-*s  %-*s  %s", aw, a.Alias, mw, a.Model, strings.Join(notes, ", "))
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if rep.Default != "" && !hasAlias(rep.Aliases, rep.Default) {
		fmt.Fprintf(w, "  the default alias %q is not registered\n", rep.Default)
	}

	fmt.Fprintln(w, "\nenvironment")
	if len(rep.Environment) == 0 {
		fmt.Fprintln(w, "  none of the variables kitaru reads is set (KITARU_*, provider keys and URLs, XDG_*, NO_COLOR)")
	}
	nw := 0
	for _, v := range rep.Environment {
		nw = max(nw, len(v.Name))
	}
	for _, v := range rep.Environment {
		fmt.Fprintf(w, "  %-*s  %s\n", nw, v.Name, v.Value)
	}

	if len(rep.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems")
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}

func hasAlias(as []statusAlias, name string) bool {
	for _, a := range as {
		if a.Alias == name {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
