// Package mcptools connects a run to its flow's MCP servers (mcp:) through
// the official Go SDK: a stdio server is started as a process (an argv, no
// shell), a streamable-HTTP one is reached at its URL. Each server is
// connected the first time a step asks for it and stays up for the rest of
// the run's go; Close stops them all.
package mcptools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// startTimeout bounds a server's start and handshake; downWait how long a
// failed call waits to learn that its server is gone; stopWait how long a
// stdio server has to exit once its stdin is closed, and again after
// SIGTERM, before it is killed.
const (
	startTimeout = 30 * time.Second
	downWait     = 2 * time.Second
	stopWait     = 2 * time.Second
)

// Servers are the MCP servers of one go at a run.
type Servers struct {
	host  work.MCPHost
	mu    sync.Mutex
	conns map[string]*conn
	done  bool
}

var _ work.MCPRun = (*Servers)(nil)

// New is the servers of a run, none started yet.
func New(host work.MCPHost) work.MCPRun {
	return &Servers{host: host, conns: map[string]*conn{}}
}

// conn is one server of the run: its session while it runs.
type conn struct {
	mu     sync.Mutex // held while it starts or stops
	cur    *session   // nil: not started (or gone, to be started again)
	masked []string
	err    error // why it could not start; it is not tried again
}

// session is one start of a server; it does not change once made.
type session struct {
	cs     *mcp.ClientSession
	cmd    *exec.Cmd // a stdio server's process
	stderr *lineLog
	tools  []work.MCPTool
	masked []string // the values it was given (its secrets, its headers'), masked in its errors
	record string   // where a stdio server's process group is noted while it runs
	// down is closed once the session ended (the process exited, the
	// connection broke, or Close).
	down    chan struct{}
	once    sync.Once   // reaps it
	stopped atomic.Bool // stop ran
	end     string      // how it ended, once reaped
}

func (s *Servers) conn(name string) (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, errors.New("the run's MCP servers are stopped")
	}
	c := s.conns[name]
	if c == nil {
		c = &conn{}
		s.conns[name] = c
	}
	return c, nil
}

// started is the server's session, started the first time. restart
// starts one that ended anew (a step's start: a later step, or the
// step's retry, gets a server again); a call does not.
func (s *Servers) started(ctx context.Context, srv *flowspec.MCPServer, restart bool) (*session, error) {
	c, err := s.conn(srv.Name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if cur := c.cur; cur != nil {
		if !restart || cur.gone() == "" {
			return cur, nil
		}
		s.host.Log(srv.Name, "it "+cur.gone()+"; starting it again", c.masked)
	}
	cur, err := s.start(ctx, srv, c)
	if err != nil {
		if ctx.Err() == nil {
			c.err = err // a server that cannot start does not start later either
		}
		return nil, err
	}
	c.cur = cur
	return cur, nil
}

func (s *Servers) start(ctx context.Context, srv *flowspec.MCPServer, c *conn) (*session, error) {
	var t mcp.Transport
	ss := &session{down: make(chan struct{})}
	if srv.URL != "" {
		h, read, err := s.headers(srv)
		if err != nil {
			return nil, err
		}
		c.masked = read
		// The standalone stream (server-to-client messages between calls)
		// is not needed: kitaru only calls.
		t = &mcp.StreamableClientTransport{Endpoint: srv.URL, DisableStandaloneSSE: true,
			HTTPClient: &http.Client{Transport: &transport{base: http.DefaultTransport, headers: h}}}
	} else {
		env, err := s.host.Env(srv.Secrets)
		if err != nil {
			return nil, fmt.Errorf("MCP server %s: %w", srv.Name, err)
		}
		c.masked = nil
		for _, kv := range env {
			if _, v, ok := strings.Cut(kv, "="); ok && v != "" {
				c.masked = append(c.masked, v)
			}
		}
		cmd := exec.Command(srv.Command[0], srv.Command[1:]...)
		ownGroup(cmd)
		cmd.Dir = s.host.Dir()
		// As a checkpoint's command: kitaru's environment, PWD the
		// directory, then env:, then the secrets.
		cmd.Env = os.Environ()
		if abs, err := filepath.Abs(cmd.Dir); cmd.Dir != "" && err == nil {
			cmd.Env = append(cmd.Env, "PWD="+abs)
		}
		for _, e := range srv.Env {
			cmd.Env = append(cmd.Env, e[0]+"="+e[1])
		}
		cmd.Env = append(cmd.Env, env...)
		masked := slices.Clone(c.masked)
		ss.stderr = &lineLog{log: func(line string) { s.host.Log(srv.Name, line, masked) }}
		cmd.Stderr = ss.stderr
		ss.cmd = cmd
		t = &notingTransport{CommandTransport: mcp.CommandTransport{Command: cmd, TerminateDuration: stopWait}, note: func() {
			if ss.record = s.host.ProcessRecord(srv.Name); ss.record != "" {
				executors.NoteGroup(ss.record, cmd.Process.Pid)
			}
		}}
	}
	ss.masked = slices.Clone(c.masked)
	cctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cctx, p := withProbe(cctx)
	client := mcp.NewClient(&mcp.Implementation{Name: "kitaru", Version: "1"}, nil)
	cs, err := client.Connect(cctx, t, nil)
	if err != nil {
		if cmd := ss.cmd; cmd != nil && cmd.Process != nil {
			killGroup(cmd)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			ss.stderr.flush()
			if ss.record != "" {
				_ = os.Remove(ss.record)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, startError(srv, p, err, ss.masked)
	}
	ss.cs = cs
	go func() {
		_ = cs.Wait()
		close(ss.down)
	}()
	for tool, err := range cs.Tools(cctx, nil) {
		if err != nil {
			ss.stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e := ss.callError(srv, "", p, err)
			e.What, e.Down = "did not list its tools", true
			return nil, e
		}
		ss.tools = append(ss.tools, work.MCPTool{Name: tool.Name, Description: tool.Description, InputSchema: schemaMap(tool.InputSchema)})
	}
	return ss, nil
}

// notingTransport notes a stdio server's process group as soon as its
// process starts, before the handshake (which an npx or uv server may
// take seconds over): a kitaru killed at any point after leaves a record
// that the run's next go stops the group by.
type notingTransport struct {
	mcp.CommandTransport
	note func()
}

func (t *notingTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.CommandTransport.Connect(ctx)
	if err == nil {
		t.note()
	}
	return c, err
}

// schemaMap is a listed input schema as JSON values.
func schemaMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// Tools lists what the server serves, starting it the first time (and
// again, when it ended since).
func (s *Servers) Tools(ctx context.Context, srv *flowspec.MCPServer) ([]work.MCPTool, error) {
	ss, err := s.started(ctx, srv, true)
	if err != nil {
		return nil, err
	}
	return ss.tools, nil
}

// Masked are the secret values the server was given.
func (s *Servers) Masked(srv *flowspec.MCPServer) []string {
	c, err := s.conn(srv.Name)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masked
}

// Call calls a tool of the server.
func (s *Servers) Call(ctx context.Context, srv *flowspec.MCPServer, tool string, args map[string]any) (*work.MCPResult, error) {
	ss, err := s.started(ctx, srv, false)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err // it could not start: its own words, Down
		}
		return nil, &Error{Server: srv.Name, Tool: tool, What: "cannot be called", Why: err.Error(), Down: true, Cause: err}
	}
	if gone := ss.gone(); gone != "" {
		return nil, &Error{Server: srv.Name, Tool: tool, What: gone + " before tool " + tool + " was called", Fix: serverEndFix(srv), Down: true, Cause: mcp.ErrConnectionClosed}
	}
	pctx, p := withProbe(ctx)
	res, err := ss.cs.CallTool(pctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if wire := (*jsonrpc.Error)(nil); errors.As(err, &wire) || p.failed() {
			// The server answered: it is up, the call failed (or, over
			// HTTP, what it answered says why it ended).
			return nil, ss.ended(ss.callError(srv, tool, p, err))
		}
		// The session ends a moment after the process does: a call cut
		// short by that is the server's end, not the tool's failure.
		t := time.NewTimer(downWait)
		defer t.Stop()
		select {
		case <-ss.down:
			return nil, &Error{Server: srv.Name, Tool: tool, What: ss.gone() + " while tool " + tool + " ran", Fix: serverEndFix(srv), Down: true, Cause: err}
		case <-t.C:
		}
		return nil, ss.ended(ss.callError(srv, tool, p, err))
	}
	return &work.MCPResult{Output: output(res), IsError: res.IsError}, nil
}

// ended ends the session of a server e says is gone or unusable (a URL
// server unreachable, refusing kitaru, or that lost its session): the
// next step's start connects again instead of reusing it.
func (ss *session) ended(e *Error) *Error {
	if e.Down {
		ss.stop()
	}
	return e
}

// callError words a call (or the listing of tools, tool "") that failed
// while the session was up.
func (ss *session) callError(srv *flowspec.MCPServer, tool string, p *probe, err error) *Error {
	e := &Error{Server: srv.Name, Tool: tool, Cause: err, masked: ss.masked}
	e.What = "failed the call of tool " + tool
	// Over HTTP what the exchange went through comes first: the SDK
	// makes an HTTP error a JSON-RPC one ("rejected by transport").
	if srv.URL != "" {
		if why, fix, down, ok := httpProblem(srv, p, err); ok {
			e.Why, e.Fix, e.Down = why, fix, down
			if down {
				e.What = "could not be reached at " + shownURL(srv.URL) + " when tool " + tool + " was called"
			}
			return e
		}
	}
	var wire *jsonrpc.Error
	if errors.As(err, &wire) {
		e.What, e.Why = "refused the call of tool "+tool, wire.Message
		return e
	}
	if errors.Is(err, mcp.ErrConnectionClosed) {
		e.What, e.Why, e.Fix, e.Down = "closed its connection while tool "+tool+" ran", "", serverEndFix(srv), true
		return e
	}
	e.Why, _ = sdkProblem(err)
	return e
}

// serverEndFix is what to do about a server gone during a run.
func serverEndFix(srv *flowspec.MCPServer) string {
	if srv.URL != "" {
		return "is it still running? The step's retry connects again"
	}
	return "its stderr, if it wrote any, is in the run log; the step's retry starts it again"
}

// gone says how the session ended ("" : it is running).
func (ss *session) gone() string {
	// A session stopped here is gone at once: down closes a moment later.
	if !ss.stopped.Load() {
		select {
		case <-ss.down:
		default:
			return ""
		}
	}
	ss.stop()
	return ss.end
}

// stop ends the session (a stdio server: stdin closed, then SIGTERM, then
// killed, with what it left in its group) and notes how it ended.
func (ss *session) stop() {
	ss.once.Do(func() {
		_ = ss.cs.Close()
		switch cmd := ss.cmd; {
		case cmd == nil:
			ss.end = "closed the connection"
		default:
			killGroup(cmd)
			if ss.record != "" {
				_ = os.Remove(ss.record)
			}
			ss.stderr.flush()
			ss.end = "exited"
			if st := cmd.ProcessState; st != nil {
				ss.end = "exited (" + st.String() + ")"
			}
		}
		ss.stopped.Store(true)
	})
}

// output is a call's result as a tool's output: its structured content
// when it has some, else its text, one string (non-text parts named).
func output(res *mcp.CallToolResult) any {
	if res.StructuredContent != nil && !res.IsError {
		return res.StructuredContent
	}
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s]", c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			} else if c.Resource != nil {
				parts = append(parts, fmt.Sprintf("[resource %s]", c.Resource.URI))
			}
		}
	}
	return strings.Join(parts, "\n")
}

// Close stops every server started.
func (s *Servers) Close() {
	s.mu.Lock()
	s.done = true
	conns := s.conns
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.cur != nil {
				c.cur.stop()
			}
		})
	}
	wg.Wait()
}

// lineLog hands a server's stderr to the run's log a line at a time.
type lineLog struct {
	mu     sync.Mutex
	buf    []byte
	log    func(string)
	logged int64 // bytes logged so far; past maxLogged the rest is not
}

// maxLogged bounds what a server's stderr adds to the run log, as a
// command's is by its max_output.
var maxLogged = flowspec.DefaultMaxOutput

// line logs one line, until maxLogged is reached; then says so once.
func (l *lineLog) line(text string) {
	switch {
	case l.logged > maxLogged:
		return
	case l.logged+int64(len(text)) > maxLogged:
		l.logged = maxLogged + 1
		l.log(fmt.Sprintf("(more of its stderr is not logged: it wrote over %s)", bytesize.Format(maxLogged)))
		return
	}
	l.logged += int64(len(text)) + 1
	l.log(text)
}

// maxLine bounds a line kept waiting for its end.
const maxLine = 8 << 10

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxLine {
				l.line(string(l.buf))
				l.buf = l.buf[:0]
			}
			return len(p), nil
		}
		l.line(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLog) flush() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(string(l.buf))
		l.buf = nil
	}
}
