package mcptools

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/headerref"
	"github.com/kitaruhq/kitaru/keyring"
)

// headers are what a URL server is sent with every request: its headers:
// with the values they name read now. read are the values read, to be
// masked.
func (s *Servers) headers(srv *flowspec.MCPServer) (h http.Header, read []string, err error) {
	h = http.Header{}
	for _, kv := range srv.Headers {
		name, v := http.CanonicalHeaderKey(kv[0]), kv[1]
		hv, err := headerref.Parse(v)
		if err != nil {
			return nil, nil, fmt.Errorf("MCP server %s: header %s: %w", srv.Name, name, err)
		}
		if !hv.IsRef() {
			h.Set(name, hv.Literal)
			continue
		}
		switch {
		case hv.Secret != "":
			if v, err = s.host.SecretKey(hv.Secret, hv.Key); err != nil {
				return nil, nil, fmt.Errorf("MCP server %s: header %s: %w", srv.Name, name, err)
			}
		default:
			// As a stdio server gets kitaru's environment, a URL
			// server's header may take a variable of it.
			if v = os.Getenv(hv.Env); v == "" {
				return nil, nil, fmt.Errorf("MCP server %s: header %s takes %s, which is not set; export it, or keep the value in a secret: %s: \"Bearer secret:NAME/KEY\"", srv.Name, name, hv.Env, name)
			}
		}
		v = strings.TrimSpace(v)
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, nil, fmt.Errorf("MCP server %s: the value header %s names holds a line break or NUL, which a header cannot carry; store it again without one", srv.Name, name)
		}
		if keyring.Maskable(v) {
			read = append(read, v)
		}
		h.Set(name, hv.Send(name, v))
	}
	return h, read, nil
}

// transport sends a URL server's headers and notes, for the request's
// probe, the statuses and errors the SDK keeps only as text.
type transport struct {
	base    http.RoundTripper
	headers http.Header
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		r = r.Clone(r.Context())
		for k, v := range t.headers {
			r.Header[k] = v
		}
	}
	resp, err := t.base.RoundTrip(r)
	if p := probeOf(r.Context()); p != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		p.note(status, err)
	}
	return resp, err
}
