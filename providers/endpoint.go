package providers

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/kitaruhq/kitaru/internal/headerref"
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
	SecretRefPrefix = headerref.SecretPrefix
	EnvRefPrefix    = headerref.EnvPrefix
)

// HeaderValue is a header value as the registry holds it, parsed.
type HeaderValue = headerref.Value

// ParseHeaderValue reads a header value as the registry holds it (see
// headerref.Parse).
func ParseHeaderValue(v string) (HeaderValue, error) { return headerref.Parse(v) }

// checkHeaders checks an alias's headers (see headerref.Check); a literal
// credential is refused saying where it would have been written.
func checkHeaders(headers map[string]string) error {
	err := headerref.Check(headers)
	if lc := (*headerref.LiteralCredentialError)(nil); errors.As(err, &lc) {
		return &literalCredentialError{header: lc.Header}
	}
	return err
}

// literalCredentialError refuses a credential written into the registry.
type literalCredentialError struct{ header string }

func (e *literalCredentialError) Error() string {
	return fmt.Sprintf("header %s looks like a credential, and its value would be written as is to models.json and to every run's record; "+
		"keep it in a secret and name it instead: kitaru secrets set NAME --KEY=… then --header '%s=%sNAME/KEY' "+
		"(or %sVAR for an environment variable)", e.header, e.header, SecretRefPrefix, EnvRefPrefix)
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
