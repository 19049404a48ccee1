package flowspec

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kitaruhq/kitaru/internal/headerref"
)

// MCPServer is one entry of the flow's mcp:, a Model Context Protocol
// server whose tools llm steps may offer. Exactly one of Command and URL
// is set.
type MCPServer struct {
	Name string
	Pos  Pos
	// Command is the argv of a stdio server, run without a shell in the
	// flow's directory.
	Command []string
	Env     [][2]string // NAME, value given to the command beside kitaru's environment
	Secrets []string    // the secrets whose keys it is given, as a checkpoint's secrets:
	URL     string      // a streamable-HTTP server
	// Headers are sent with every request to a URL server, NAME, value as
	// written: a literal, or where the value is kept (secret:NAME/KEY,
	// env:NAME, after a scheme: "Bearer secret:NAME/KEY"), read when the
	// server is first reached; see internal/headerref.
	Headers [][2]string
}

// MCPUse is one SERVER.TOOL or SERVER.* of an llm step's tools:. Which
// tools SERVER.* names, and their schemas, only the running server says.
type MCPUse struct {
	Server *MCPServer
	Tool   string // "*" for all of the server's tools
	Pos    Pos
}

// Name is the use as the flow writes it.
func (u MCPUse) Name() string { return u.Server.Name + "." + u.Tool }

// MCPServer returns the flow's MCP server named name, or nil.
func (f *Flow) MCPServer(name string) *MCPServer {
	if i := slices.IndexFunc(f.MCP, func(s *MCPServer) bool { return s.Name == name }); i >= 0 {
		return f.MCP[i]
	}
	return nil
}

var (
	// mcpNameRE keeps a server's name free of the dot that ends it in
	// SERVER.TOOL, and of the "__" that joins it to a tool's name in what
	// providers are sent.
	mcpNameRE = regexp.MustCompile(`^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$`)
	mcpFields = []string{"command", "url", "env", "secrets", "headers"}
	// mcpHeaders are set by the MCP client itself.
	mcpHeaders = []string{"Accept", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-Id"}
)

// mcp reads the flow's mcp:.
func (l *loader) mcp(n *yaml.Node) {
	if n = l.optionalMapping(n, "mcp must be a mapping of server names to {command: [...]} or {url: ...}"); n == nil {
		return
	}
	for _, p := range l.pairs(n, "MCP server") {
		if s := l.mcpServer(p.key, p.val); s != nil {
			l.flow.MCP = append(l.flow.MCP, s)
		}
	}
}

func (l *loader) mcpServer(key, n *yaml.Node) *MCPServer {
	s := &MCPServer{Name: key.Value, Pos: pos(key)}
	owner := "MCP server " + strconv.Quote(s.Name)
	if !mcpNameRE.MatchString(s.Name) || len(s.Name) > 32 {
		l.e.add(pos(key), "%s: a server's name may hold only letters, digits, - and single _ (at most 32), so that SERVER.TOOL reads as one", owner)
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s must be a mapping with command: [program, args...] or url: https://..., not %s", owner, nodeKind(n))
		return nil
	}
	fs := l.fields(n, "MCP server field", mcpFields, nil)
	if p, ok := fs.get("command"); ok {
		s.Command = l.mcpCommand(owner, p.val)
	}
	if p, ok := fs.get("url"); ok {
		s.URL = l.scalar(p.val, owner+" url")
		if u, err := url.Parse(s.URL); s.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			l.e.add(pos(resolve(p.val)), "%s: url must be an http:// or https:// address of a streamable-HTTP server, not %q", owner, s.URL)
		}
	}
	if p, ok := fs.get("env"); ok {
		s.Env = l.mcpEnv(owner, p.val)
	}
	if p, ok := fs.get("secrets"); ok {
		s.Secrets = l.secretsOf(owner, p.val)
	}
	if p, ok := fs.get("headers"); ok {
		s.Headers = l.mcpHeaders(owner, p.val)
	}
	switch {
	case s.Command != nil && s.URL != "":
		l.e.add(pos(fs.field("url").key), "%s has both command and url; keep one of them (command: a stdio server kitaru starts, url: one already running)", owner)
	case !fs.has("command") && !fs.has("url") && !l.typos["command"] && !l.typos["url"]:
		l.e.add(pos(n), "%s needs command: [program, args...] (a stdio server) or url: (a streamable-HTTP server)", owner)
	case s.URL != "" && (s.Env != nil || s.Secrets != nil):
		l.e.add(pos(n), "%s: env and secrets go with command: (a server kitaru starts), not url:; a URL server's credentials go in headers: (Authorization: \"Bearer secret:NAME/KEY\")", owner)
	case s.Command != nil && s.Headers != nil:
		l.e.add(pos(fs.field("headers").key), "%s: headers go with url: (a server reached over HTTP); a command's server gets env: and secrets:", owner)
	}
	return s
}

// mcpCommand reads an argv list: no shell reads it, so none of its words
// is shell syntax.
func (l *loader) mcpCommand(owner string, n *yaml.Node) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.e.add(pos(n), "%s: command must be a list of the program and its arguments, e.g. command: [my-mcp-server, --root, .], not %s", owner, nodeKind(n))
		return nil
	}
	out := []string{}
	for _, it := range n.Content {
		it = resolve(it)
		w := l.scalar(it, owner+" command word")
		if strings.Contains(w, "${{") {
			l.e.add(pos(it), "%s: command is not a template (the server starts once per run); write the words out", owner)
		}
		out = append(out, w)
	}
	if out[0] == "" {
		l.e.add(pos(resolve(n.Content[0])), "%s: command's first word, the program, is empty", owner)
	}
	return out
}

// mcpEnv reads NAME: value pairs of plain text.
func (l *loader) mcpEnv(owner string, n *yaml.Node) [][2]string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s: env must be a mapping of NAME: value, not %s", owner, nodeKind(n))
		return nil
	}
	out := [][2]string{}
	for _, p := range l.pairs(n, "environment variable") {
		if !envNameRE.MatchString(p.key.Value) {
			l.e.add(pos(p.key), "%s: %q is not a valid environment variable name (letters, digits and _, not starting with a digit)", owner, p.key.Value)
		}
		v := l.scalar(p.val, owner+" env "+p.key.Value)
		if strings.Contains(v, "${{") {
			l.e.add(pos(p.val), "%s: env values are not templates (the server starts once per run); for a secret use secrets:", owner)
		}
		out = append(out, [2]string{p.key.Value, v})
	}
	return out
}

// mcpHeaders reads NAME: value pairs, each value a literal or a
// reference to where it is kept; a credential written out is refused, as
// the flow file and every run's record would hold it.
func (l *loader) mcpHeaders(owner string, n *yaml.Node) [][2]string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s: headers must be a mapping of Name: value, e.g. headers: {Authorization: \"Bearer secret:NAME/KEY\"}, not %s", owner, nodeKind(n))
		return nil
	}
	out := [][2]string{}
	var seen []string
	for _, p := range l.pairs(n, "header") {
		v := l.scalar(p.val, owner+" header "+p.key.Value)
		if strings.Contains(v, "${{") {
			l.e.add(pos(p.val), "%s: header values are not templates (the server is reached once per run); for a credential write secret:NAME/KEY", owner)
			continue
		}
		if i := slices.IndexFunc(seen, func(s string) bool { return strings.EqualFold(s, p.key.Value) }); i >= 0 {
			l.e.add(pos(p.key), "%s: header %s is given twice (as %q and %q): give it once", owner, p.key.Value, seen[i], p.key.Value)
			continue
		}
		// One header at a time, so that an error is at its line.
		err := headerref.Check(map[string]string{p.key.Value: v}, mcpHeaders...)
		if lc := (*headerref.LiteralCredentialError)(nil); errors.As(err, &lc) {
			l.e.add(pos(p.val), "%s: header %s looks like a credential, which the flow file and every run's record would hold as is; "+
				"keep it in a secret and name it: kitaru secrets set NAME --KEY=… then %s: \"Bearer secret:NAME/KEY\" (or env:VAR for an environment variable)", owner, lc.Header, lc.Header)
			continue
		}
		if err != nil {
			l.e.add(pos(p.key), "%s: %v", owner, err)
			continue
		}
		if hv, _ := headerref.Parse(v); hv.Secret != "" {
			l.flow.Uses = append(l.flow.Uses, Use{UseSecret, hv.Secret, pos(p.val)})
		}
		seen = append(seen, p.key.Value)
		out = append(out, [2]string{p.key.Value, v})
	}
	return out
}

// mcpUse reads an llm step's SERVER.TOOL or SERVER.*; ok is false for a
// name without a dot (a tool of tools:).
func (c *stepCtx) mcpUse(b *LLMStep, it *yaml.Node, name string) bool {
	server, tool, ok := strings.Cut(name, ".")
	if !ok {
		return false
	}
	l, s := c.l, c.s
	at := pos(resolve(it))
	srv := l.flow.MCPServer(server)
	switch {
	case srv == nil:
		names := make([]string, 0, len(l.flow.MCP))
		for _, m := range l.flow.MCP {
			names = append(names, m.Name)
		}
		l.e.add(at, "step %q: tool %q: %s", s.ID, name, unknownMsg("MCP server", server, names, "the flow declares no MCP servers: add them under mcp: at the top"))
	case tool == "":
		l.e.add(at, "step %q: tool %q names no tool of server %s; write %s.TOOL or %s.*", s.ID, name, server, server, server)
	case slices.ContainsFunc(b.MCP, func(u MCPUse) bool { return u.Server == srv && (u.Tool == tool || u.Tool == "*") }),
		tool == "*" && slices.ContainsFunc(b.MCP, func(u MCPUse) bool { return u.Server == srv }):
		l.e.add(at, "step %q: tool %q is listed twice (%s.* offers every tool of %s)", s.ID, name, server, server)
	default:
		b.MCP = append(b.MCP, MCPUse{Server: srv, Tool: tool, Pos: at})
	}
	return true
}

// mcpDoc is what a step's fingerprint covers of an MCP tool it offers:
// the server as the flow declares it (what the server serves, only a
// run sees; a cache key covers that too).
type mcpDoc struct {
	Use     string      `json:"use"`
	Command []string    `json:"command,omitempty"`
	Env     [][2]string `json:"env,omitempty"`
	Secrets []string    `json:"secrets,omitempty"`
	URL     string      `json:"url,omitempty"`
	Headers [][2]string `json:"headers,omitempty"` // as written: references, never a credential
}

func mcpDocs(us []MCPUse) []mcpDoc {
	var out []mcpDoc
	for _, u := range us {
		s := u.Server
		out = append(out, mcpDoc{Use: u.Name(), Command: s.Command, Env: s.Env, Secrets: s.Secrets, URL: s.URL, Headers: s.Headers})
	}
	return out
}
