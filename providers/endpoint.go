package providers

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/kitaruhq/kitaru/keyring"
)

// An alias may name its own server (Alias.BaseURL) and headers sent with
// every request to it (Alias.Headers). A header value is either sent as
// written or names where the value is kept: a key of a secret
// (secret:NAME/KEY) or an environment variable (env:NAME), read at call
// time and masked like a provider key. The registry, which every run
// records, holds only the reference, so a literal credential is refused:
// models.json is not secret storage.

// Prefixes of a header value that names where its value is kept.
const (
	SecretRefPrefix = "secret:"
	EnvRefPrefix    = "env:"
)

// HeaderValue is a header value as the registry holds it, parsed: exactly
// one of Literal, Secret (with Key) or Env is set.
type HeaderValue struct {
	// Scheme is the word written before a reference ("Bearer" in
	// "Bearer secret:groq-creds/GROQ_API_KEY"), sent before its value.
	Scheme  string
	Secret  string // secret:NAME/KEY
	Key     string
	Env     string // env:NAME
	Literal string // sent as written
}

// IsRef says whether the value names a secret or a variable.
func (h HeaderValue) IsRef() bool { return h.Secret != "" || h.Env != "" }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseHeaderValue reads a header value as the registry holds it. A value
// that starts like a reference but is not a valid one is an error, never a
// literal: a typo must not send "secret:groq-creds" to a server.
func ParseHeaderValue(v string) (HeaderValue, error) {
	scheme, ref := "", v
	if word, rest, ok := strings.Cut(v, " "); ok && isRef(rest) && !isRef(word) {
		scheme, ref = word, rest
	}
	switch {
	case strings.HasPrefix(ref, SecretRefPrefix):
		name, key, ok := strings.Cut(strings.TrimPrefix(ref, SecretRefPrefix), "/")
		if !ok {
			return HeaderValue{}, fmt.Errorf("%q names no key: write %sNAME/KEY, for example secret:groq-creds/GROQ_API_KEY", v, SecretRefPrefix)
		}
		if err := keyring.ValidateName(name); err != nil {
			return HeaderValue{}, fmt.Errorf("%q: %w", v, err)
		}
		if err := keyring.ValidateKey(key); err != nil {
			return HeaderValue{}, fmt.Errorf("%q: %w", v, err)
		}
		return HeaderValue{Scheme: scheme, Secret: name, Key: key}, nil
	case strings.HasPrefix(ref, EnvRefPrefix):
		name := strings.TrimPrefix(ref, EnvRefPrefix)
		if !envNameRE.MatchString(name) {
			return HeaderValue{}, fmt.Errorf("%q does not name an environment variable: write %sNAME, for example env:GROQ_API_KEY", v, EnvRefPrefix)
		}
		return HeaderValue{Scheme: scheme, Env: name}, nil
	}
	return HeaderValue{Literal: v}, nil
}

func isRef(s string) bool {
	return strings.HasPrefix(s, SecretRefPrefix) || strings.HasPrefix(s, EnvRefPrefix)
}

// reservedHeaders are set by kitaru or the HTTP client for the request
// to be understood at all; an alias cannot replace them.
var reservedHeaders = []string{"Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection"}

// credentialHeaderWords mark a header whose value is a credential.
var credentialHeaderWords = []string{"auth", "key", "token", "secret", "password", "cookie", "session"}

// credentialValue matches a literal that looks like a credential whatever
// the header: an HTTP auth scheme with its token, or a common API key
// prefix (OpenAI, Anthropic, Groq, Google, Hugging Face, xAI).
var credentialValue = regexp.MustCompile(`(?i)^(bearer|basic|token)\s+\S|^(sk-|gsk_|aiza|hf_|xai-)`)

// checkHeaders checks an alias's headers: valid names, given once (names
// are case-insensitive), none kitaru must set itself, values that are
// valid references or literals that are not credentials.
func checkHeaders(headers map[string]string) error {
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if !validHeaderName(name) {
			return fmt.Errorf("header name %q is not valid: use letters, digits and '-' (for example X-Title)", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if other, dup := seen[canon]; dup {
			return fmt.Errorf("header %s is given twice (as %q and %q): give it once", canon, other, name)
		}
		seen[canon] = name
		if slices.Contains(reservedHeaders, canon) {
			return fmt.Errorf("header %s is set by kitaru itself and cannot be replaced", canon)
		}
		v := headers[name]
		if err := checkHeaderText(v); err != nil {
			return fmt.Errorf("header %s: %w", canon, err)
		}
		hv, err := ParseHeaderValue(v)
		if err != nil {
			return fmt.Errorf("header %s: %w", canon, err)
		}
		if hv.IsRef() {
			continue
		}
		if credentialHeader(canon) || credentialValue.MatchString(strings.TrimSpace(v)) {
			return &literalCredentialError{header: canon}
		}
	}
	return nil
}

// literalCredentialError refuses a credential written into the registry.
type literalCredentialError struct{ header string }

func (e *literalCredentialError) Error() string {
	return fmt.Sprintf("header %s looks like a credential, and its value would be written as is to models.json and to every run's record; "+
		"keep it in a secret and name it instead: kitaru secrets set NAME --KEY=… then --header '%s=%sNAME/KEY' "+
		"(or %sVAR for an environment variable)", e.header, e.header, SecretRefPrefix, EnvRefPrefix)
}

func credentialHeader(canon string) bool {
	lower := strings.ToLower(canon)
	for _, w := range credentialHeaderWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// checkHeaderText refuses what cannot be sent in a header line.
func checkHeaderText(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("the value is empty")
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("the value holds a line break or NUL, which a header cannot carry")
	}
	return nil
}

// validHeaderName: an HTTP token (RFC 9110's tchar).
func validHeaderName(name string) bool {
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

// checkBaseURL checks an alias's base URL: an absolute http or https URL
// without credentials, query or fragment (the client appends its paths).
// Errors show the URL without its password, query and fragment, which may
// be what a user pasted a key into.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("base URL is not a URL: %w", err)
	}
	shown := *u
	if shown.RawQuery != "" {
		shown.RawQuery = "…"
	}
	if shown.Fragment != "" {
		shown.Fragment = "…"
	}
	show := shown.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("base URL %q must start with http:// or https:// (for example http://localhost:8000/v1)", show)
	case u.Host == "":
		return fmt.Errorf("base URL %q names no host (for example http://localhost:8000/v1)", show)
	case u.User != nil:
		return fmt.Errorf("base URL %q carries a user name or password, which would be stored as is in models.json and in every run's record; "+
			"send the credential as a header instead: --header 'Authorization=%sNAME/KEY'", show, SecretRefPrefix)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("base URL %q has a query or fragment; give the URL the API's paths are appended to (for example https://api.groq.com/openai/v1), and a key as a header: --header 'Authorization=%sNAME/KEY'", show, SecretRefPrefix)
	}
	return nil
}

// checkEndpoint checks an alias's base URL and headers.
func checkEndpoint(a Alias) error {
	if a.BaseURL != "" {
		if err := checkBaseURL(a.BaseURL); err != nil {
			return err
		}
	}
	return checkHeaders(a.Headers)
}
