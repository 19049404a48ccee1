package mcptools

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/mcptest"
)

func TestMain(m *testing.M) {
	mcptest.Main() // the test binary as a stdio server
	os.Exit(m.Run())
}

// host is a run as the servers see it: its log, and secrets.
type host struct {
	dir     string
	secrets map[string]string
	mu      sync.Mutex
	lines   []string
}

func (h *host) Env(names []string) ([]string, error) {
	var env []string
	for _, n := range names {
		v, ok := h.secrets[n]
		if !ok {
			return nil, errors.New("no secret " + n)
		}
		env = append(env, "MCP_TOKEN="+v)
	}
	return env, nil
}

func (h *host) SecretKey(name, key string) (string, error) {
	v, ok := h.secrets[name+"/"+key]
	if !ok {
		return "", errors.New("no secret " + name + " with key " + key)
	}
	return v, nil
}

func (h *host) Dir() string { return h.dir }

func (h *host) ProcessRecord(server string) string { return filepath.Join(h.dir, server+".pgid") }

func (h *host) Log(server, line string, masked []string) {
	for _, m := range masked {
		line = strings.ReplaceAll(line, m, "***")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, server+": "+line)
}

func (h *host) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

// servers are a stdio server (this binary) and an HTTP one, both the test
// server, each with its counter directory.
func servers(t *testing.T) (dir string, stdio, web *flowspec.MCPServer) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "note.txt"), []byte("hello from the note"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"stdio", "http"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stdio = &flowspec.MCPServer{Name: "files", Command: []string{bin}, Secrets: []string{"tok"},
		Env: [][2]string{{mcptest.EnvServe, "1"}, {mcptest.EnvCounter, filepath.Join(dir, "stdio")}, {mcptest.EnvMayDie, "1"}}}
	srv := httptest.NewServer(mcptest.Handler(filepath.Join(dir, "http")))
	t.Cleanup(srv.Close)
	web = &flowspec.MCPServer{Name: "web", URL: srv.URL}
	return dir, stdio, web
}

func count(t *testing.T, dir, tool string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, tool))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// Both transports list the tools with their schemas and call them: text,
// structured content, a tool's error; a server starts once however many
// calls it serves.
func TestServersListAndCall(t *testing.T) {
	t.Parallel()
	dir, stdio, web := servers(t)
	h := &host{dir: dir, secrets: map[string]string{"tok": "s3cret-token-value"}}
	s := New(h)
	defer s.Close()
	for _, srv := range []*flowspec.MCPServer{stdio, web} {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			tools, err := s.Tools(ctx, srv)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(tools))
			for _, tl := range tools {
				names = append(names, tl.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"add", "die", "env", "fail", "hang", "read_file"}) {
				t.Fatalf("tools %v", names)
			}
			i := slices.IndexFunc(tools, func(tl work.MCPTool) bool { return tl.Name == "add" })
			if req, _ := tools[i].InputSchema["required"].([]any); len(req) != 2 {
				t.Errorf("add's input schema %v", tools[i].InputSchema)
			}
			res, err := s.Call(ctx, srv, "read_file", map[string]any{"path": filepath.Join(dir, "note.txt")})
			if err != nil || res.IsError || res.Output != "hello from the note" {
				t.Fatalf("read_file: %+v, %v", res, err)
			}
			res, err = s.Call(ctx, srv, "add", map[string]any{"a": 1, "b": 2.5})
			if m, _ := res.Output.(map[string]any); err != nil || m["sum"] != 3.5 {
				t.Fatalf("add: %+v, %v", res, err)
			}
			res, err = s.Call(ctx, srv, "fail", map[string]any{})
			if err != nil || !res.IsError || res.Output != "the disk is on fire" {
				t.Fatalf("fail: %+v, %v", res, err)
			}
			// A tool it does not have is the call's error, not the server's end.
			if _, err = s.Call(ctx, srv, "nope", map[string]any{}); err == nil || errors.Is(err, work.ErrMCPServerDown) {
				t.Fatalf("an unknown tool: %v", err)
			}
			if _, err := s.Tools(ctx, srv); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := count(t, filepath.Join(dir, "stdio"), "read_file"); n != 1 {
		t.Errorf("read_file ran %d times on the stdio server", n)
	}
	// The stdio server got its secret; what it printed on stderr reached
	// the log masked.
	res, err := s.Call(t.Context(), stdio, "env", map[string]any{"name": "MCP_TOKEN"})
	if err != nil || res.Output != "s3cret-token-value" {
		t.Fatalf("env: %+v, %v", res, err)
	}
	if !slices.Equal(s.Masked(stdio), []string{"s3cret-token-value"}) {
		t.Errorf("masked %v", s.Masked(stdio))
	}
	s.Close()
	if st := s.(*Servers).conns["files"].cur.cmd.ProcessState; st == nil || !st.Exited() {
		t.Errorf("the stdio server was not stopped: %v", st)
	}
	log := h.log()
	if !strings.Contains(log, "files: test server up, token ***") || !strings.Contains(log, "files: env MCP_TOKEN is ***") || strings.Contains(log, "s3cret") {
		t.Errorf("log:\n%s", log)
	}
	if _, err := s.Tools(t.Context(), stdio); err == nil {
		t.Error("a closed run's servers still answer")
	}
}

// A stdio server that dies while a call runs: the call's error says the
// server is gone, and how it ended; later calls say so too.
func TestServerDies(t *testing.T) {
	t.Parallel()
	dir, stdio, _ := servers(t)
	h := &host{dir: dir, secrets: map[string]string{"tok": "s3cret-token-value"}}
	s := New(h)
	defer s.Close()
	_, err := s.Call(t.Context(), stdio, "die", map[string]any{})
	if !errors.Is(err, work.ErrMCPServerDown) || !strings.Contains(err.Error(), "MCP server files exited (exit status 3) while tool die ran") {
		t.Fatalf("err %v", err)
	}
	_, err = s.Call(t.Context(), stdio, "read_file", map[string]any{"path": "note.txt"})
	if !errors.Is(err, work.ErrMCPServerDown) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("a call after: %v", err)
	}
	// A step's start (Tools) starts it again, saying so.
	if _, err := s.Tools(t.Context(), stdio); err != nil {
		t.Fatal(err)
	}
	res, err := s.Call(t.Context(), stdio, "read_file", map[string]any{"path": "note.txt"})
	if err != nil || res.Output != "hello from the note" {
		t.Fatalf("a call once started again: %+v, %v", res, err)
	}
	if log := h.log(); !strings.Contains(log, "files: it exited (exit status 3); starting it again") {
		t.Errorf("log:\n%s", log)
	}
}

// A server that cannot start says which and why, and is not tried again.
func TestServerCannotStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		srv  *flowspec.MCPServer
		want string
	}{
		{"no program", &flowspec.MCPServer{Name: "gone", Command: []string{"./no-such-server", "--x"}}, "MCP server gone could not be started (command ./no-such-server --x): there is no such program"},
		{"not a server", &flowspec.MCPServer{Name: "sh", Command: []string{"sh", "-c", "echo not json; sleep 1"}}, "MCP server sh could not be started (command sh -c echo not json; sleep 1): it printed something on stdout that is not an MCP message"},
		{"ends at once", &flowspec.MCPServer{Name: "quit", Command: []string{"sh", "-c", "echo bye >&2; exit 4"}}, "MCP server quit could not be started (command sh -c echo bye >&2; exit 4): it ended before it answered"},
		{"no secret", &flowspec.MCPServer{Name: "sec", Command: []string{"true"}, Secrets: []string{"missing"}}, "MCP server sec: no secret missing"},
		{"nobody at the url", &flowspec.MCPServer{Name: "web", URL: "http://127.0.0.1:1/mcp"}, "MCP server web could not be reached at http://127.0.0.1:1/mcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if (tt.name == "not a server" || tt.name == "ends at once") && runtime.GOOS == "windows" {
				t.Skip("no sh")
			}
			s := New(&host{dir: t.TempDir()})
			defer s.Close()
			_, err := s.Tools(t.Context(), tt.srv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// A server's stderr adds at most maxLogged to the run log, then one line
// saying the rest is not logged.
func TestStderrLogBounded(t *testing.T) {
	t.Parallel()
	var lines []string
	l := &lineLog{log: func(s string) { lines = append(lines, s) }}
	for range int(maxLogged/1000) + 10 {
		_, _ = l.Write([]byte(strings.Repeat("x", 999) + "\n"))
	}
	l.flush()
	var n int64
	for _, s := range lines[:len(lines)-1] {
		n += int64(len(s)) + 1
	}
	if n > maxLogged || !strings.Contains(lines[len(lines)-1], "more of its stderr is not logged") {
		t.Errorf("logged %d bytes (bound %d), last line %q", n, maxLogged, lines[len(lines)-1])
	}
}

// A URL server is sent its headers: literals as written, secret: and env:
// references read when it is reached, an Authorization scheme kept; the
// values read are masked.
func TestURLServerHeaders(t *testing.T) {
	t.Setenv("KITARU_TEST_MCP_TEAM", "research-team-7")
	const token = "tok-0123456789abcdef"
	var mu sync.Mutex
	var seen []http.Header
	inner := mcptest.Handler(t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h := &host{dir: t.TempDir(), secrets: map[string]string{"web-creds/TOKEN": token}}
	s := New(h)
	defer s.Close()
	web := &flowspec.MCPServer{Name: "web", URL: srv.URL + "/mcp", Headers: [][2]string{
		{"Authorization", "secret:web-creds/TOKEN"}, {"X-Team", "env:KITARU_TEST_MCP_TEAM"}, {"X-Title", "kitaru tests"}}}
	res, err := s.Call(t.Context(), web, "add", map[string]any{"a": 1, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := res.Output.(map[string]any); m["sum"] != 3.0 {
		t.Fatalf("add: %+v", res)
	}
	mu.Lock()
	for _, hd := range seen {
		if hd.Get("X-Team") != "research-team-7" || hd.Get("X-Title") != "kitaru tests" {
			t.Errorf("a request's headers: %v", hd)
		}
	}
	mu.Unlock()
	if !slices.Contains(s.Masked(web), token) || !slices.Contains(s.Masked(web), "research-team-7") {
		t.Errorf("masked %v", s.Masked(web))
	}
	// A scheme written before the reference is sent before its value.
	web2 := &flowspec.MCPServer{Name: "web2", URL: srv.URL + "/mcp", Headers: [][2]string{{"Authorization", "Bearer secret:web-creds/TOKEN"}}}
	if _, err := s.Tools(t.Context(), web2); err != nil {
		t.Fatal(err)
	}
	// Without them the server refuses kitaru, and the error says what to do.
	bare := &flowspec.MCPServer{Name: "bare", URL: srv.URL + "/mcp?key=pasted-here"}
	_, err = s.Tools(t.Context(), bare)
	want := `MCP server bare could not be reached at ` + srv.URL + `/mcp?…: HTTP 401 Unauthorized; give it its credentials in headers:, e.g. headers: {Authorization: "Bearer secret:NAME/KEY"}`
	if err == nil || err.Error() != want || !errors.Is(err, work.ErrMCPServerDown) {
		t.Errorf("err %v\nwant %s", err, want)
	}
	// A secret it cannot read, or a variable not set, says which.
	for _, tt := range []struct{ ref, want string }{
		{"secret:nope/TOKEN", "MCP server x: header Authorization: no secret nope with key TOKEN"},
		{"env:KITARU_TEST_MCP_UNSET", "MCP server x: header Authorization takes KITARU_TEST_MCP_UNSET, which is not set"},
	} {
		x := &flowspec.MCPServer{Name: "x", URL: srv.URL, Headers: [][2]string{{"authorization", tt.ref}}}
		if _, err := New(h).Tools(t.Context(), x); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.ref, err, tt.want)
		}
	}
}

// What goes wrong with a server reads as a sentence naming it, the tool
// and what to do, never as the SDK's chain of "calling …: sending …".
func TestErrorsInWords(t *testing.T) {
	t.Parallel()
	dir, stdio, web := servers(t)
	s := New(&host{dir: dir, secrets: map[string]string{"tok": "s3cret-token-value"}})
	defer s.Close()
	ctx := t.Context()
	// flaky is a server that, once started, answers calls with status.
	flaky := func(name string, status int) (*flowspec.MCPServer, *httptest.Server) {
		var on atomic.Bool
		inner := mcptest.Handler(t.TempDir())
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if on.Load() && r.Method == http.MethodPost {
				w.WriteHeader(status)
				return
			}
			inner.ServeHTTP(w, r)
		}))
		t.Cleanup(hs.Close)
		srv := &flowspec.MCPServer{Name: name, URL: hs.URL}
		if _, err := s.Tools(ctx, srv); err != nil {
			t.Fatal(err)
		}
		on.Store(status != 0)
		return srv, hs
	}
	call := func(srv *flowspec.MCPServer, tool string) error {
		_, err := s.Call(ctx, srv, tool, map[string]any{})
		return err
	}
	start := func(name, url string) error {
		_, err := s.Tools(ctx, &flowspec.MCPServer{Name: name, URL: url})
		return err
	}
	nobody := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(nobody.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	f500, _ := flaky("f500", http.StatusInternalServerError)
	f401, h401 := flaky("f401", http.StatusUnauthorized)
	fgone, hgone := flaky("fgone", 0)
	tests := []struct {
		name string
		do   func() error
		want string
		down bool
	}{
		{"unknown tool, stdio", func() error { return call(stdio, "nope") }, `MCP server files refused the call of tool nope: unknown tool "nope"`, false},
		{"unknown tool, http", func() error { return call(web, "nope") }, `MCP server web refused the call of tool nope: unknown tool "nope"`, false},
		{"http 500 on a call", func() error { return call(f500, "add") }, "MCP server f500 failed the call of tool add: HTTP 500 Internal Server Error", false},
		{"http 401 on a call", func() error { return call(f401, "add") },
			"MCP server f401 could not be reached at " + h401.URL + " when tool add was called: HTTP 401 Unauthorized; give it its credentials in headers:", true},
		{"nobody there at the start", func() error { return start("gone", closed.URL+"/mcp") },
			"MCP server gone could not be reached at " + closed.URL + "/mcp: connection refused; is it running, and is its url: right?", true},
		{"no endpoint there", func() error { return start("lost", nobody.URL+"/nothing-here") },
			"MCP server lost could not be reached at " + nobody.URL + "/nothing-here: HTTP 404 Not Found; check its url: (the MCP endpoint's path, often /mcp)", true},
		{"server gone during the run", func() error { hgone.Close(); return call(fgone, "add") },
			"MCP server fgone could not be reached at " + hgone.URL + " when tool add was called: connection refused; is it running, and is its url: right?", true},
	}
	for _, tt := range tests {
		err := tt.do()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tt.want) {
			t.Errorf("%s: err\n%s\nwant it to start\n%s", tt.name, msg, tt.want)
		}
		for _, raw := range []string{`calling "`, `sending "`, "rejected by transport", "Post \""} {
			if strings.Contains(msg, raw) {
				t.Errorf("%s: the SDK's words reach the user: %s", tt.name, msg)
			}
		}
		if errors.Is(err, work.ErrMCPServerDown) != tt.down {
			t.Errorf("%s: server down %v, want %v: %s", tt.name, !tt.down, tt.down, msg)
		}
	}
}

// A URL server restarted during a run no longer knows kitaru's session:
// the call fails the step, saying so, and the step's retry (its start,
// Tools) connects again and calls it.
func TestURLServerRestarted(t *testing.T) {
	t.Parallel()
	var cur atomic.Pointer[http.Handler]
	h := mcptest.Handler(t.TempDir())
	cur.Store(&h)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*cur.Load()).ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	srv := &flowspec.MCPServer{Name: "web", URL: hs.URL}
	s := New(&host{dir: t.TempDir()})
	defer s.Close()
	if _, err := s.Tools(t.Context(), srv); err != nil {
		t.Fatal(err)
	}
	fresh := mcptest.Handler(t.TempDir()) // the server as it comes back: no sessions
	cur.Store(&fresh)
	_, err := s.Call(t.Context(), srv, "add", map[string]any{"a": 1, "b": 2})
	if !errors.Is(err, work.ErrMCPServerDown) || !strings.Contains(err.Error(), "it no longer knows kitaru's session: was it restarted?; the step's retry connects again") {
		t.Fatalf("err %v", err)
	}
	if _, err := s.Tools(t.Context(), srv); err != nil {
		t.Fatalf("the retry's start: %v", err)
	}
	res, err := s.Call(t.Context(), srv, "add", map[string]any{"a": 1, "b": 2})
	if err != nil {
		t.Fatalf("a call after connecting again: %v", err)
	}
	if m, _ := res.Output.(map[string]any); m["sum"] != 3.0 {
		t.Fatalf("a call after connecting again: %+v", res)
	}
}

// A stdio server's process group is noted from its start, before the
// handshake (a server may take seconds to answer it), and the note goes
// when the server is stopped.
func TestServerGroupNoted(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no process groups")
	}
	dir, stdio, _ := servers(t)
	h := &host{dir: dir, secrets: map[string]string{"tok": "s3cret-token-value"}}
	slow := *stdio
	gate := filepath.Join(dir, "gate")
	// It answers once the test has seen the note.
	slow.Command = []string{"sh", "-c", `while [ ! -f "$0" ]; do sleep 0.01; done; exec "$1"`, gate, stdio.Command[0]}
	s := New(h)
	defer s.Close()
	rec := h.ProcessRecord(slow.Name)
	done := make(chan error, 1)
	go func() { _, err := s.Tools(t.Context(), &slow); done <- err }()
	for {
		if data, err := os.ReadFile(rec); err == nil && strings.HasSuffix(string(data), "\n") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the handshake ended (%v) before the group was noted", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the note outlived the server: %v", err)
	}
}
