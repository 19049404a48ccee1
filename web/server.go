// Package web is `kitaru ui`: an HTTP server with a JSON API over the
// engine and the page built on it (plain HTML, CSS and JS, embedded).
//
// It drives the same engine.Runner calls as the command line. The words a
// person reads (the record's reasons, an error's remedy) are the command
// line's: package cli hands them in as functions (Config), so that the
// page and the terminal never word the same thing two ways.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// Subscriber is the engine's per-run subscription (*engine.Engine).
type Subscriber interface {
	Subscribe(run string, buffer int) *engine.Subscription
}

// Grapher gives the step graph of a run's recorded flow (*engine.Engine).
type Grapher interface {
	Graph(ctx context.Context, ref string) ([]engine.GraphStep, error)
}

// Config is what a Server is built from.
type Config struct {
	Runner engine.Runner
	Subs   Subscriber
	Graphs Grapher
	// Store is the one the engine runs over: the runs page pages through
	// it with its cursor, and event streams read its journal.
	Store runstore.Store
	// Record gives a run's `--json` shape (cli's recordForJSON).
	Record func(*engine.Run) any
	// Step gives one step whole, as `executions get --step` (cli's
	// viewStep); with item, that item of a foreach step (`--item`).
	Step func(run *engine.Run, step string, item *int) (any, error)
	// Explain words an error as the command line does: the message and,
	// apart, the way out ("" none).
	Explain func(error) (msg, remedy string)
	// LoadFlow reads and compiles a flow file (relative paths from the
	// server's directory).
	LoadFlow func(ctx context.Context, path string) (*flowspec.Flow, error)
	// Token is what every request must carry; "" makes a random one.
	Token string
	// Hosts are names besides loopback ones and addresses that requests
	// may name in Host (the host of a non-loopback --addr).
	Hosts []string
	// Poll is how often an event stream reads the journal again for what
	// its subscription does not bring (a run another process executes);
	// 0: 500ms.
	Poll time.Duration
	// Base is the context background runs run in: when it ends they stop
	// interrupted, resumable.
	Base context.Context
}

// Server serves the API and the page. Its background runs are waited for
// with Wait.
type Server struct {
	cfg   Config
	token string
	bg    sync.WaitGroup
	mux   *http.ServeMux

	mu          sync.Mutex
	interrupted []string // runs of the background that stopped interrupted
	// active are the runs the background is running, each closed when its
	// action returns (see unheld).
	active map[string]chan struct{}
	tails  map[string]*journalTail // the journal tails of runs followed (see tail.go)
}

// New makes a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.Token = hex.EncodeToString(b)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Base == nil {
		cfg.Base = context.Background()
	}
	s := &Server{cfg: cfg, token: cfg.Token, mux: http.NewServeMux(), active: map[string]chan struct{}{}, tails: map[string]*journalTail{}}
	s.routes()
	return s, nil
}

// Token is the token requests must carry.
func (s *Server) Token() string { return s.token }

// Wait waits for the runs the server started in the background to return
// (after Config.Base ends they stop at their next safe point), and says
// which of them stopped interrupted, to be resumed.
func (s *Server) Wait() (interrupted []string) {
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.interrupted...)
}

// cookieName holds the token once a page was opened with ?token=, so the
// page's own requests need not repeat it.
const cookieName = "kitaru_token"

// ServeHTTP checks the token and the origin, then serves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style, nothing from elsewhere: a value from a
	// run record that slipped into the page as markup could run nothing.
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !s.hostAllowed(r) {
		// A name other than the one we serve (DNS rebinding) gets nothing,
		// reads included: the page holds run records.
		writeError(w, http.StatusForbidden, "the Host header "+quote(r.Host)+" is not this server's; open the URL kitaru ui printed", "")
		return
	}
	tok, fromQuery := s.requestToken(r)
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		writeError(w, http.StatusUnauthorized, "a token is needed: open the URL kitaru ui printed (it ends ?token=…), or send Authorization: Bearer TOKEN", "")
		return
	}
	if stateChanging(r.Method) && !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "a request from another site ("+quote(r.Header.Get("Origin"))+") may not change runs", "")
		return
	}
	if fromQuery {
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) requestToken(r *http.Request) (tok string, fromQuery bool) {
	if t := r.URL.Query().Get("token"); t != "" {
		return t, true
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer "), false
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value, false
	}
	return "", false
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hostAllowed: the Host is a loopback name or address, or the address the
// server listens on (a request to it names it).
func (s *Server) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		// An address is not a name an attacker's DNS can point here.
		return true
	}
	for _, h := range s.cfg.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// originAllowed: a browser names the page a request comes from in Origin
// (and, without it, in Referer); it must be this server. A request without
// either comes from a script or curl, which holds the token anyway.
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	if o == "null" {
		return false
	}
	rest, ok := strings.CutPrefix(o, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(o, "https://")
	}
	if !ok {
		return false
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return strings.EqualFold(rest, r.Host)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errorBody is every error the API answers with.
type errorBody struct {
	Error  string `json:"error"`
	Remedy string `json:"remedy,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg, remedy string) {
	writeJSON(w, code, errorBody{Error: msg, Remedy: remedy})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail answers err with its status: an unknown run 404, a run another
// process holds 409, what the user asked wrongly 400, the rest 500.
func (s *Server) fail(w http.ResponseWriter, err error) {
	msg, remedy := s.explain(err)
	writeError(w, statusOf(err), msg, remedy)
}

// explain words err as Config.Explain does (without it, its message).
func (s *Server) explain(err error) (msg, remedy string) {
	if s.cfg.Explain == nil {
		return err.Error(), ""
	}
	return s.cfg.Explain(err)
}

func statusOf(err error) int {
	var he *engine.HeldError
	var ue *engine.UsageError
	var be *badRequest
	switch {
	case errors.As(err, &he):
		return http.StatusConflict
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &ue), errors.As(err, &be):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// badRequest is a request body or query the API cannot use.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return e.err.Error() }
func (e *badRequest) Unwrap() error { return e.err }
