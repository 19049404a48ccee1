package mcptools

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

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

func (h *host) Dir() string { return h.dir }

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
