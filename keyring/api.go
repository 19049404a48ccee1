// Package keyring keeps named secrets (sets of KEY=VALUE pairs) in the OS
// keyring, with an index of names and key names (never values) on disk.
//
// Rules, checked before anything is stored:
//   - a secret name matches ^[a-z0-9][a-z0-9_.-]*$ and is at most 64
//     characters (lowercase, so "OpenAI" and "openai" cannot both exist);
//   - a key matches ^[A-Za-z_][A-Za-z0-9_]*$ (it may become an environment
//     variable of a `run:` step);
//   - a value is not empty, and a key is given at most once per command.
//
// Each violation is a *UsageError.
//
// Backends: "os" (the default) keeps each secret as one item of the OS
// keyring (service "kitaru", user = secret name, password = a JSON object of
// its pairs) and the index in <ConfigDir>/secrets.json. "file" is an explicit
// opt-in (KITARU_SECRETS_BACKEND=file) for machines without a keyring: the
// values go to <ConfigDir>/secrets.file.json, mode 0600, NOT encrypted.
// kitaru never falls back from one to the other by itself.
package keyring

import (
	"errors"
	"time"
	"unicode/utf8"
)

// MinMaskedLen is the shortest secret value kitaru masks (as ***) in what
// it records. Masking a shorter one ("1", "yes") would rewrite ordinary
// text wherever it occurs, and the next step would receive the mangled
// text; such a value is recorded as is, and `kitaru secrets set` warns.
const MinMaskedLen = 6

// Maskable says whether a value is long enough to be masked.
func Maskable(v string) bool { return utf8.RuneCountInString(v) >= MinMaskedLen }

// ErrNotFound is returned for a secret that does not exist.
var ErrNotFound = errors.New("secret not found")

// ErrUnavailable is wrapped by every error that means "the OS keyring
// cannot be reached" (no session bus, no Secret Service, locked, timeout).
// Such errors are *UnavailableError and explain how to fix the machine.
var ErrUnavailable = errors.New("the OS keyring is not reachable")

// Getter reads secrets; it is all the engine and providers need.
type Getter interface {
	// Get returns every key of the named secret, or an error wrapping
	// ErrNotFound.
	Get(name string) (map[string]string, error)
}

// Backend names, as accepted in Options.Backend and KITARU_SECRETS_BACKEND.
const (
	BackendOS   = "os"
	BackendFile = "file"
)

// BackendEnv selects the backend when Options.Backend is empty.
const BackendEnv = "KITARU_SECRETS_BACKEND"

// DefaultTimeout bounds every call into the OS keyring.
const DefaultTimeout = 5 * time.Second

// Options configure Open. The zero value is what the CLI uses.
type Options struct {
	// Backend is "os" or "file"; "" reads KITARU_SECRETS_BACKEND, and
	// defaults to "os".
	Backend string
	// ConfigDir holds the index (and the file backend's values); ""
	// means fsutil.ConfigDir().
	ConfigDir string
	// Timeout bounds each OS keyring call; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Secret is one entry of List: a name and its key names, never values.
type Secret struct {
	Name string   `json:"name"`
	Keys []string `json:"keys"`
}

// Store reads and writes secrets through one backend. Open makes one; it
// does not touch the keyring until a method needs it.
type Store struct {
	backend   backend
	name      string
	configDir string
}

// Interface check: the engine and providers take a Getter.
var _ Getter = (*Store)(nil)
