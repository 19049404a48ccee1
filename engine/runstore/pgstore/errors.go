package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// ErrUnreachable is wrapped by errors of calls that could not reach the
// server: refused, out of reach, or the connection lost, for the whole of
// the retry window.
var ErrUnreachable = errors.New("the PostgreSQL server cannot be reached")

// ErrAuth is wrapped by errors of connections the server refused for
// their credentials (a wrong password, a role it does not know).
var ErrAuth = errors.New("the PostgreSQL server refused the credentials")

// ErrNoDatabase is wrapped by errors of a URL naming a database the
// server does not have.
var ErrNoDatabase = errors.New("the database does not exist")

// Error is a failure of the server or of the way to it. Its text is the
// driver's with any password taken out; the driver's error itself is not
// kept, so that nothing reachable from it holds the password.
type Error struct {
	Op   string // what the store was doing: "saving step a of run kr-…"
	Code string // the SQLSTATE the server gave, "" when none
	// Kind is what errors.Is tells: ErrUnreachable, ErrAuth,
	// runstore.ErrNoSpace, or nil for any other failure.
	Kind error
	Text string // the driver's message, without the password
}

func (e *Error) Error() string {
	if e.Kind != nil {
		return e.Op + ": " + e.Kind.Error() + " (" + e.Text + ")"
	}
	return e.Op + ": " + e.Text
}

func (e *Error) Unwrap() error { return e.Kind }

// wrap makes err, a driver's, an *Error of op; an error of the store's own
// (a missing run, a lost lease) or nil is returned as it is.
func (s *Store) wrap(op string, err error) error {
	if err == nil || own(err) {
		return err
	}
	e := &Error{Op: op, Kind: kindOf(err), Text: tidy(s.sanitize(err.Error()))}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e.Code = pe.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		e.Kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded) && e.Kind == nil:
		// A connect that timed out is the server out of reach (kindOf).
		e.Kind = context.DeadlineExceeded
	}
	return e
}

// own says whether err is one the store made itself, about its records.
func own(err error) bool {
	var he *runstore.HeldError
	var de *runstore.DamagedError
	var se *SchemaError
	var e *Error
	return errors.Is(err, runstore.ErrNotFound) || errors.Is(err, runstore.ErrLeaseLost) ||
		errors.Is(err, runstore.ErrNoArtifact) || errors.Is(err, runstore.ErrBadCacheKey) ||
		errors.As(err, &he) || errors.As(err, &de) || errors.As(err, &se) || errors.As(err, &e)
}

// sanitize takes the password, and any URL's password, out of text.
func (s *Store) sanitize(text string) string {
	if s.password != "" {
		text = strings.ReplaceAll(text, s.password, "xxxxx")
		if esc := url.QueryEscape(s.password); esc != s.password {
			text = strings.ReplaceAll(text, esc, "xxxxx")
		}
	}
	return text
}

// urlPassword is the password a URL carries, for a URL pgx cannot read.
func urlPassword(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		pw, _ := p.User.Password()
		return pw
	}
	return writtenPassword(u)
}

// writtenPassword is the password of u as written in it (percent-encoded
// or not), "" when it has none.
func writtenPassword(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	// The last @ ends the user part, as a URL reads it: a password with
	// an @, a / or a # not percent-encoded is why the URL did not parse.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// URLPasswords are the forms a password takes in a store URL and in what
// reads it: decoded, as written, and a password= parameter's.
func URLPasswords(u string) []string {
	var out []string
	if p, err := url.Parse(u); err == nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			out = append(out, pw)
		}
		if pw := p.Query().Get("password"); pw != "" {
			out = append(out, pw)
		}
	}
	if pw := writtenPassword(u); pw != "" {
		out = append(out, pw)
	}
	return out
}

// kindOf classifies a driver's error.
func kindOf(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return runstore.ErrNoSpace
		case strings.HasPrefix(pe.Code, "28"):
			return ErrAuth
		case pe.Code == "3D000":
			return ErrNoDatabase
		}
	}
	// A connection that could not be made in time (a port that is not
	// PostgreSQL's, a server that never answers) is out of reach too.
	// The pool reports a timed-out connect as its deadline, with the
	// connect error only in its text.
	var ce *pgconn.ConnectError
	if transient(err) || errors.As(err, &ce) || strings.Contains(err.Error(), "failed to connect to") {
		return ErrUnreachable
	}
	return nil
}

// transient says whether err is one a retry may cure: the server out of
// reach, restarting or shutting down, the connection lost, a transaction
// that lost a serialization race.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "40001", "40P01", "53300":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "conn closed")
}

// do runs attempt until it succeeds, fails for good, or the server has
// been out of reach for the retry window. retry tells attempt that an
// earlier one failed and may have committed all the same (its commit's
// answer lost): a write that is not a plain replacement checks first.
func (s *Store) do(ctx context.Context, op string, attempt func(ctx context.Context, retry bool) error) error {
	wait := 25 * time.Millisecond
	for retry := false; ; retry = true {
		err := attempt(ctx, retry)
		if err == nil || own(err) {
			s.outageSince.Store(0)
			return err
		}
		if !transient(err) {
			if isServerAnswer(err) {
				s.outageSince.Store(0)
			}
			return s.wrap(op, err)
		}
		// Past the window a call still tries twice: its first attempt may
		// have met a connection the restarted server had dropped.
		left := time.Until(s.outageStart().Add(s.retryFor))
		if ctx.Err() != nil || left <= 0 && retry {
			return s.wrap(op, err)
		}
		d := min(wait, left)
		if d <= 0 {
			d = wait
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.wrap(op, err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// outageStart is when the server stopped answering, starting the clock
// now if no other call has.
func (s *Store) outageStart() time.Time {
	now := time.Now().UnixNano()
	s.outageSince.CompareAndSwap(0, now)
	if since := s.outageSince.Load(); since != 0 {
		return time.Unix(0, since)
	}
	return time.Unix(0, now)
}

// isServerAnswer tells whether err came from the server itself, which
// therefore is up.
func isServerAnswer(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// tidy makes the driver's account of a connection that failed one line:
// it tells each address it tried on a line of its own, twice when the
// server refused TLS first (sslmode=prefer), which says nothing of why
// the connection failed.
func tidy(text string) string {
	head, rest, ok := strings.Cut(text, ":\n\t")
	if !ok {
		return text
	}
	var keep []string
	seen := map[string]bool{}
	lines := strings.Split(strings.TrimSuffix(rest, ")"), "\n\t")
	for _, l := range lines {
		if strings.Contains(l, "server refused TLS connection") && len(lines) > 1 {
			continue
		}
		if !seen[l] {
			seen[l] = true
			keep = append(keep, l)
		}
	}
	closing := ""
	if strings.HasSuffix(rest, ")") {
		closing = ")"
	}
	return head + ": " + strings.Join(keep, "; ") + closing
}
