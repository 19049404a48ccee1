// Package headerref reads HTTP header values that are sent as written or
// name where their value is kept: a key of a secret (secret:NAME/KEY) or
// an environment variable (env:NAME), optionally after an auth scheme
// ("Bearer secret:NAME/KEY"). A model alias's headers and an MCP server's
// are written so: what is stored (models.json, a flow file, a run's
// record) holds only the reference, never the credential.
package headerref

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/kitaruhq/kitaru/keyring"
)

// Prefixes of a value that names where it is kept.
const (
	SecretPrefix = "secret:"
	EnvPrefix    = "env:"
)

// Value is a header value as written, parsed: exactly one of Literal,
// Secret (with Key) or Env is set.
type Value struct {
	// Scheme is the word written before a reference ("Bearer" in
	// "Bearer secret:groq-creds/GROQ_API_KEY"), sent before its value.
	Scheme  string
	Secret  string // secret:NAME/KEY
	Key     string
	Env     string // env:NAME
	Literal string // sent as written
}

// IsRef says whether the value names a secret or a variable.
func (h Value) IsRef() bool { return h.Secret != "" || h.Env != "" }

// Send is what header name carries for a reference whose value was read:
// after the scheme written, if any. An Authorization header naming a bare
// key (no scheme written, none in the value) is sent as a bearer token, as
// OpenAI-compatible and MCP servers expect: secret:groq-creds/GROQ_API_KEY
// holds the key alone.
func (h Value) Send(name, read string) string {
	switch {
	case h.Scheme != "":
		return h.Scheme + " " + read
	case (name == "Authorization" || name == "Proxy-Authorization") && !strings.Contains(read, " "):
		return "Bearer " + read
	}
	return read
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads a header value. A value that starts like a reference but is
// not a valid one is an error, never a literal: a typo must not send
// "secret:groq-creds" to a server.
func Parse(v string) (Value, error) {
	scheme, ref := "", v
	if word, rest, ok := strings.Cut(v, " "); ok && isRef(rest) && !isRef(word) {
		scheme, ref = word, rest
	}
	switch {
	case strings.HasPrefix(ref, SecretPrefix):
		name, key, ok := strings.Cut(strings.TrimPrefix(ref, SecretPrefix), "/")
		if !ok {
			return Value{}, fmt.Errorf("%q names no key: write %sNAME/KEY, for example secret:groq-creds/GROQ_API_KEY", v, SecretPrefix)
		}
		if err := keyring.ValidateName(name); err != nil {
			return Value{}, fmt.Errorf("%q: %w", v, err)
		}
		if err := keyring.ValidateKey(key); err != nil {
			return Value{}, fmt.Errorf("%q: %w", v, err)
		}
		return Value{Scheme: scheme, Secret: name, Key: key}, nil
	case strings.HasPrefix(ref, EnvPrefix):
		name := strings.TrimPrefix(ref, EnvPrefix)
		if !envNameRE.MatchString(name) {
			return Value{}, fmt.Errorf("%q does not name an environment variable: write %sNAME, for example env:GROQ_API_KEY", v, EnvPrefix)
		}
		return Value{Scheme: scheme, Env: name}, nil
	}
	return Value{Literal: v}, nil
}

func isRef(s string) bool {
	return strings.HasPrefix(s, SecretPrefix) || strings.HasPrefix(s, EnvPrefix)
}

// reserved are set by the HTTP client or the protocol spoken for the
// request to be understood at all; a header written cannot replace them.
var reserved = []string{"Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection"}

// credentialWords mark a header whose value is a credential.
var credentialWords = []string{"auth", "key", "token", "secret", "password", "cookie", "session"}

// credentialValue matches a literal that looks like a credential whatever
// the header: an HTTP auth scheme with its token, or a common API key
// prefix (OpenAI, Anthropic, Groq, Google, Hugging Face, xAI).
var credentialValue = regexp.MustCompile(`(?i)^(bearer|basic|token)\s+\S|^(sk-|gsk_|aiza|hf_|xai-)`)

// LiteralCredentialError is Check's refusal of a credential written as a
// literal; each caller says where it would have been stored.
type LiteralCredentialError struct{ Header string }

func (e *LiteralCredentialError) Error() string {
	return fmt.Sprintf("header %s looks like a credential written as is; name a secret instead (%sNAME/KEY)", e.Header, SecretPrefix)
}

// Check checks headers by name: valid names, given once (names are
// case-insensitive), none of reserved or more (those the caller's protocol
// sets), values that are valid references or literals that are not
// credentials (a *LiteralCredentialError).
func Check(headers map[string]string, more ...string) error {
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if !validName(name) {
			return fmt.Errorf("header name %q is not valid: use letters, digits and '-' (for example X-Title)", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if other, dup := seen[canon]; dup {
			return fmt.Errorf("header %s is given twice (as %q and %q): give it once", canon, other, name)
		}
		seen[canon] = name
		if slices.Contains(reserved, canon) || slices.Contains(more, canon) {
			return fmt.Errorf("header %s is set by kitaru itself and cannot be replaced", canon)
		}
		v := headers[name]
		if err := checkText(v); err != nil {
			return fmt.Errorf("header %s: %w", canon, err)
		}
		hv, err := Parse(v)
		if err != nil {
			return fmt.Errorf("header %s: %w", canon, err)
		}
		if hv.IsRef() {
			continue
		}
		if credentialName(canon) || credentialValue.MatchString(strings.TrimSpace(v)) {
			return &LiteralCredentialError{Header: canon}
		}
	}
	return nil
}

func credentialName(canon string) bool {
	lower := strings.ToLower(canon)
	for _, w := range credentialWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// checkText refuses what cannot be sent in a header line.
func checkText(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("the value is empty")
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("the value holds a line break or NUL, which a header cannot carry")
	}
	return nil
}

// validName: an HTTP token (RFC 9110's tchar).
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
