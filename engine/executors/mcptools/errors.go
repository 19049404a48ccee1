package mcptools

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
)

// Error is a failure of an MCP server, in words: the SDK's own errors
// read "calling "tools/call": sending "tools/call": rejected by
// transport: Post …", which names neither the server nor what to do.
// Cause keeps the SDK's error for errors.Is and errors.As.
type Error struct {
	Server string
	Tool   string // the tool called; "" when it was not a call
	// What happened, a clause after the server's name ("could not be
	// reached at http://…"), and Why, in a few words ("connection
	// refused"), after a colon.
	What, Why string
	Fix       string // what to do, a clause; "" when there is nothing to say
	// Down: the server is gone (or cannot be used any more) and the step
	// fails; otherwise the call's failure goes back to the model.
	Down   bool
	Cause  error
	masked []string // values sent to it (its secrets), never shown
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("MCP server " + e.Server + " " + e.What)
	if e.Why != "" {
		b.WriteString(": " + e.Why)
	}
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	s := b.String()
	for _, m := range e.masked {
		s = strings.ReplaceAll(s, m, "***")
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Is makes a server that is gone an ErrMCPServerDown.
func (e *Error) Is(target error) bool { return e.Down && target == work.ErrMCPServerDown }

// shownURL is a server's address as errors show it: without a user's
// password, query or fragment, where a token may have been pasted.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "its url"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.Redacted()
}

// probe notes what the HTTP exchanges of one request to a URL server
// went through: the SDK's errors carry an HTTP status only as text.
type probe struct {
	mu     sync.Mutex
	status int   // the last status >= 400
	err    error // the last transport error
}

func (p *probe) note(status int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.err = err
	} else if status >= 400 {
		p.status = status
	}
}

// failed says whether an HTTP exchange failed.
func (p *probe) failed() bool {
	st, err := p.seen()
	return st != 0 || err != nil
}

func (p *probe) seen() (int, error) {
	if p == nil {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.err
}

type probeKey struct{}

func withProbe(ctx context.Context) (context.Context, *probe) {
	p := &probe{}
	return context.WithValue(ctx, probeKey{}, p), p
}

func probeOf(ctx context.Context) *probe {
	p, _ := ctx.Value(probeKey{}).(*probe)
	return p
}

// httpProblem says what went wrong with a URL server, from what the probe
// saw (status, transport error) and the SDK's err; down is true when the
// server cannot be used (unreachable, refusing kitaru, its session gone).
// ok is false when it cannot tell.
func httpProblem(srv *flowspec.MCPServer, p *probe, err error) (why, fix string, down, ok bool) {
	status, terr := p.seen()
	if terr == nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			terr = uerr
		}
	}
	switch st := status; {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		fix = `give it its credentials in headers:, e.g. headers: {Authorization: "Bearer secret:NAME/KEY"}`
		if len(srv.Headers) > 0 {
			fix = "check the credentials its headers: send (the secret's value, its scheme)"
		}
		return statusText(st), fix, true, true
	case st == http.StatusNotFound && errors.Is(err, mcp.ErrSessionMissing):
		return "it no longer knows kitaru's session: was it restarted?", "the step's retry connects again", true, true
	case st == http.StatusNotFound:
		return statusText(st), "check its url: (the MCP endpoint's path, often /mcp)", true, true
	case st >= 400:
		return statusText(st), "", false, true
	case terr != nil:
		why, fix := netProblem(terr)
		return why, fix, true, true
	}
	return "", "", false, false
}

func statusText(st int) string {
	return fmt.Sprintf("HTTP %d %s", st, http.StatusText(st))
}

// netProblem words a request that reached no server.
func netProblem(err error) (why, fix string) {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	var nerr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", "is it running, and is its url: right?"
	case errors.As(err, &dns):
		return "no such host " + dns.Name, "check its url:"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &certInvalid):
		return "its TLS certificate is not trusted", "check its url:, or the machine's trusted certificates"
	case errors.As(err, &recordHeader):
		return "it does not speak TLS there", "an http:// url, perhaps?"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "it did not answer in time", "is it running, and is its url: right?"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was cut", "is it still running?"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error(), "is it running, and is its url: right?"
	}
	return "its connection failed", "is it running, and is its url: right?"
}

// startError is why a server could not be started (stdio) or reached
// (HTTP) and its handshake done.
func startError(srv *flowspec.MCPServer, p *probe, err error, masked []string) *Error {
	e := &Error{Server: srv.Name, Cause: err, Down: true, masked: masked}
	if srv.URL != "" {
		e.What = "could not be reached at " + shownURL(srv.URL)
		if why, fix, _, ok := httpProblem(srv, p, err); ok {
			e.Why, e.Fix = why, fix
			return e
		}
		e.Why, e.Fix = sdkProblem(err)
		return e
	}
	e.What = "could not be started (command " + strings.Join(srv.Command, " ") + ")"
	e.Why, e.Fix = startProblem(err)
	return e
}

// startProblem says in words why a stdio server did not come up: the
// SDK's error alone reads "client is closing: EOF" or a JSON parse error.
func startProblem(err error) (why, fix string) {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("it did not answer MCP's initialize within %s", startTimeout), "is it an MCP server, speaking on its stdin and stdout?"
	case errors.As(err, &syn) || strings.Contains(err.Error(), "looking for beginning of value") || strings.Contains(err.Error(), "invalid character"):
		return "it printed something on stdout that is not an MCP message", "a stdio server must write only JSON-RPC there; its logs go to stderr"
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return "there is no such program", "check the command, or PATH"
	case errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || strings.Contains(err.Error(), "EOF"):
		return "it ended before it answered", "its stderr, if it wrote any, is in the run log"
	case errors.Is(err, fs.ErrPermission):
		return "it may not be run (permission denied)", "check the command's file mode"
	}
	return sdkProblem(err)
}

// sdkProblem is an error the cases above do not know, as few words as it
// can be: the JSON-RPC error's message, else the SDK's innermost words.
func sdkProblem(err error) (why, fix string) {
	var wire *jsonrpc.Error
	switch {
	case errors.As(err, &wire):
		return "it answered with an error: " + wire.Message, ""
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("it did not answer MCP's initialize within %s", startTimeout), "is it an MCP server?"
	}
	return "it did not answer as an MCP server does: " + innermost(err), "is it an MCP server?"
}

// innermost is the last part of an error's text: the SDK prefixes each
// layer's words ("calling "initialize": sending "initialize": …").
func innermost(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}
