package keyring

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// backend is where values live. Names are validated before any call.
type backend interface {
	// get returns the pairs of a secret, or an error wrapping ErrNotFound.
	get(name string) (map[string]string, error)
	// put replaces the whole secret.
	put(name string, values map[string]string) error
	// remove deletes a secret, or returns an error wrapping ErrNotFound.
	remove(name string) error
	// list returns names and key names, sorted by name.
	list() ([]Secret, error)
	// check says whether the backend can be used right now.
	check() error
}

const maxNameLen = 64

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	keyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// FileBackendWarning is what the CLI prints (to stderr) every time the
// file backend is in use, so nobody keeps plain-text secrets unknowingly.
const FileBackendWarning = "warning: " + BackendEnv + "=file: secret values are kept NOT encrypted in %s (mode 0600); unset " + BackendEnv + " to use the OS keyring"

// Open prepares a Store. It validates the options but does not contact the
// keyring: Check does that, and every other method reports an unreachable
// keyring as an error wrapping ErrUnavailable.
func Open(opts Options) (*Store, error) {
	name := opts.Backend
	if name == "" {
		name = os.Getenv(BackendEnv)
	}
	if name == "" {
		name = BackendOS
	}
	dir := opts.ConfigDir
	if dir == "" {
		d, err := fsutil.ConfigDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	s := &Store{name: name, configDir: dir}
	switch name {
	case BackendOS:
		s.backend = newOSBackend(dir, timeout)
	case BackendFile:
		s.backend = &fileBackend{path: fileStorePath(dir)}
	default:
		return nil, usagef("%s=%q is not a secrets backend: use %q (the OS keyring, the default) or %q (a plain file, not encrypted)", BackendEnv, name, BackendOS, BackendFile)
	}
	return s, nil
}

// Backend names the backend in use: "os" or "file".
func (s *Store) Backend() string { return s.name }

// Warning is the text to show the user before using this store: the
// file backend's warning, or "" for the OS keyring.
func (s *Store) Warning() string {
	if s.name != BackendFile {
		return ""
	}
	return fmt.Sprintf(FileBackendWarning, fileStorePath(s.configDir))
}

// Check reports whether the backend can be used now (for `kitaru status`):
// nil, or an error wrapping ErrUnavailable that says how to fix it.
func (s *Store) Check() error { return s.backend.check() }

// Set creates the secret name with values, or, if it exists, updates only
// the keys given and keeps the others. created says which happened.
func (s *Store) Set(name string, values map[string]string) (created bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	if len(values) == 0 {
		return false, usagef("secret %q: give at least one KEY=VALUE pair", name)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if err := validatePair(k, values[k]); err != nil {
			return false, err
		}
	}
	err = withWriteLock(s.configDir, func() error {
		merged, err := s.backend.get(name)
		switch {
		case errors.Is(err, ErrNotFound):
			created = true
			merged = map[string]string{}
		case err != nil:
			return err
		}
		maps.Copy(merged, values)
		return s.backend.put(name, merged)
	})
	return created, err
}

// Get returns every pair of the named secret; an unknown name wraps
// ErrNotFound.
func (s *Store) Get(name string) (map[string]string, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	inProcess.RLock()
	defer inProcess.RUnlock()
	return s.backend.get(name)
}

// List returns every secret's name and key names, sorted by name. For the
// OS backend it reads only the index, so it works without a keyring.
func (s *Store) List() ([]Secret, error) { return s.backend.list() }

// Delete removes the named secret; an unknown name wraps ErrNotFound.
func (s *Store) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return withWriteLock(s.configDir, func() error { return s.backend.remove(name) })
}

// ValidateName checks a secret name against the rules in the package doc.
func ValidateName(name string) error {
	switch {
	case name == "":
		return usagef("a secret name is required (lowercase letters, digits, '_', '.', '-'; for example openai-creds)")
	case len(name) > maxNameLen:
		return usagef("secret name %q is too long: at most %d characters", name, maxNameLen)
	case !nameRE.MatchString(name):
		return usagef("secret name %q is not valid: use lowercase letters, digits, '_', '.' and '-', starting with a letter or digit (for example openai-creds)", name)
	}
	return nil
}

// ValidateKey checks a key name of a secret against the rules in the
// package doc.
func ValidateKey(key string) error {
	if !keyRE.MatchString(key) {
		return usagef("key %q is not valid: a key starts with a letter or '_' and has only letters, digits and '_' (for example OPENAI_API_KEY)", key)
	}
	return nil
}

func validatePair(key, value string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if value == "" {
		return usagef("key %s has an empty value: give --%s=VALUE with a value, or leave the key out", key, key)
	}
	return nil
}

// ParsePairs turns KEY=VALUE arguments into a map, enforcing the key and
// value rules and rejecting a key given twice.
func ParsePairs(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		key, value, ok := strings.Cut(p, "=")
		if !ok {
			return nil, usagef("%q is not a KEY=VALUE pair: write --%s=VALUE", p, p)
		}
		if err := validatePair(key, value); err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, usagef("key %s is given twice: give each key once", key)
		}
		out[key] = value
	}
	return out, nil
}

// sortedKeys returns the keys of a secret in a stable order.
func sortedKeys(values map[string]string) []string {
	return slices.Sorted(maps.Keys(values))
}

// NotFoundError names the missing secret; what to do about it is for the
// front end to say.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("there is no secret named %q", e.Name)
}

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(name string) error { return &NotFoundError{Name: name} }
