package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/executors/mcptools"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/keyring"
)

// mcpState is a go's MCP servers: made when a unit first needs them,
// closed when the go ends.
type mcpState struct {
	mu     sync.Mutex
	run    work.MCPRun
	closed bool
	// reds mask what a server logs: the run's masks and its secrets.
	reds map[string]*redactor
}

// mcpServers is the run's MCP servers; nil for a flow without mcp:.
func (x *execution) mcpServers() work.MCP {
	if len(x.flow.MCP) == 0 {
		return nil
	}
	m := &x.mcp
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run == nil {
		open := x.e.cfg.MCP
		if open == nil {
			open = mcptools.New
		}
		m.run = open(mcpHost{x})
		if m.closed {
			m.run.Close() // a unit after the go's end starts nothing
		}
	}
	return m.run
}

// closeMCP stops the servers a unit started.
func (x *execution) closeMCP() {
	m := &x.mcp
	m.mu.Lock()
	run, was := m.run, m.closed
	m.closed = true
	m.mu.Unlock()
	if run != nil && !was {
		run.Close()
	}
}

// mcpHost is what the servers of a go need of it.
type mcpHost struct{ x *execution }

func (h mcpHost) Env(secrets []string) ([]string, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	env, _, err := h.x.secretEnv(secrets, "")
	return env, err
}

func (h mcpHost) SecretKey(name, key string) (string, error) {
	x := h.x
	if x.e.cfg.Secrets == nil {
		return "", fmt.Errorf("it needs the secret %q but no secret store is available", name)
	}
	fix := runstore.Remedy{Do: runstore.RemedySetSecret, Name: name}
	kv, err := x.e.cfg.Secrets.Get(name)
	if err != nil {
		return "", runstore.Advise(fmt.Errorf("cannot read the secret %q: %w", name, err), fix)
	}
	v := kv[key]
	if v == "" {
		return "", runstore.Advise(fmt.Errorf("the secret %q has no key %s", name, key), fix)
	}
	if !keyring.Maskable(v) {
		x.appendLog(LogLine{Time: time.Now().UTC(),
			Text: fmt.Sprintf("secret %q key %s is shorter than %d characters, too short to be masked: wherever it appears it is recorded as is", name, key, keyring.MinMaskedLen)})
	}
	return v, nil
}

func (h mcpHost) Dir() string { return h.x.workDir() }

func (h mcpHost) ProcessRecord(server string) string {
	loc := h.x.e.processNotes()
	if loc == nil {
		return ""
	}
	return executors.MCPRecord(loc.Locate(h.x.meta.ID, "", ""), server)
}

// stopMCPLeftovers stops what a killed kitaru left running of the run's
// stdio MCP servers (one that lived on after its stdin closed), saying so
// in the run's log: before a go at the run starts its own, or when the
// run is cancelled while nobody holds it.
func (e *Engine) stopMCPLeftovers(ctx context.Context, id string) {
	loc := e.processNotes()
	if loc == nil {
		return
	}
	for _, l := range executors.StopMCPLeftovers(ctx, loc.Locate(id, "", "")) {
		text := fmt.Sprintf("MCP server %s: stopped what was left running of it: process group %d (%d processes), orphaned when the kitaru running it died", l.MCP, l.PGID, l.N)
		if l.Err != nil {
			text = fmt.Sprintf("MCP server %s: what was left running of it (process group %d, orphaned when the kitaru running it died) %v; stop it with kill -- -%d", l.MCP, l.PGID, l.Err, l.PGID)
		}
		_ = e.store.AppendLog(ctx, id, LogLine{Time: time.Now().UTC(), Text: text})
	}
}

func (h mcpHost) Log(server, line string, masked []string) {
	x, m := h.x, &h.x.mcp
	m.mu.Lock()
	red := m.reds[server]
	if red == nil {
		red = newRedactor(append(slices.Clip(x.e.cfg.Mask), masked...))
		if m.reds == nil {
			m.reds = map[string]*redactor{}
		}
		m.reds[server] = red
	}
	m.mu.Unlock()
	x.appendLog(LogLine{Time: time.Now().UTC(), Text: "MCP server " + server + ": " + red.str(line)})
}
