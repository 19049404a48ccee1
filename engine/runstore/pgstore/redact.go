package pgstore

import (
	"net/url"
	"strings"
)

// Redact is u with any password replaced by "xxxxx"; it never fails (a
// URL it cannot read comes back as its scheme and "://…" only).
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		scheme, _, ok := strings.Cut(u, "://")
		if !ok || strings.ContainsAny(scheme, "@:/?") {
			return "…"
		}
		return scheme + "://…"
	}
	if p.User != nil {
		if _, has := p.User.Password(); has {
			p.User = url.UserPassword(p.User.Username(), "xxxxx")
		}
	}
	q := p.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		p.RawQuery = q.Encode()
	}
	return p.String()
}
