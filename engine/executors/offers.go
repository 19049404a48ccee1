package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// offer is one tool an llm step offers the model: a tool of the flow's
// tools:, or one an MCP server serves.
type offer struct {
	name string // as the flow and the records name it: lookup, files.read_file
	// wire is the name the model is sent and calls it by: the flow's
	// name for a tool of tools:, SERVER__TOOL (made to fit) for an MCP one.
	wire   string
	local  *flowspec.Tool
	server *flowspec.MCPServer
	mcp    work.MCPTool
	params *flowspec.AnswerSchema // the MCP tool's input schema, compiled; nil: none to check
}

// offers is what an llm step offers, with its names both ways.
type offers struct {
	list   []*offer
	byName map[string]*offer
	byWire map[string]*offer
	served []servedTool // what the servers listed, for the cache key
}

// servedTool is what a cache key covers of an MCP tool, as listed.
type servedTool struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Schema      map[string]any `json:"schema,omitempty"`
}

// wireNameRE is what OpenAI and Anthropic accept as a tool's name.
var (
	wireNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	wireBadRE  = regexp.MustCompile(`[^A-Za-z0-9_-]`)
)

// offersOf resolves a step's tools: its MCP ones asked of their servers,
// which start then. Its errors are the step's: a server that cannot
// start, a tool it does not serve.
func offersOf(ctx context.Context, u *work.Unit, sink work.Sink) (*offers, error) {
	l := u.Step.LLM
	o := &offers{byName: map[string]*offer{}, byWire: map[string]*offer{}}
	for _, t := range l.Tools {
		o.add(&offer{name: t.Name, wire: t.Name, local: t})
	}
	if len(l.MCP) == 0 {
		return o, nil
	}
	if u.MCP == nil {
		return nil, errors.New("it offers MCP tools, but this run has no MCP servers to call")
	}
	listed := map[*flowspec.MCPServer][]work.MCPTool{}
	var pending []*offer
	for _, use := range l.MCP {
		tools, ok := listed[use.Server]
		if !ok {
			var err error
			if tools, err = u.MCP.Tools(ctx, use.Server); err != nil {
				return nil, err
			}
			listed[use.Server] = tools
			sink.AddSecrets(u.MCP.Masked(use.Server))
		}
		var picked []work.MCPTool
		if use.Tool == "*" {
			picked = tools
		} else {
			for _, t := range tools {
				if t.Name == use.Tool {
					picked = append(picked, t)
				}
			}
			if len(picked) == 0 {
				return nil, fmt.Errorf("tool %s: MCP server %s has no tool %q; its tools are %s", use.Name(), use.Server.Name, use.Tool, toolNames(tools))
			}
		}
		for _, t := range picked {
			name := use.Server.Name + "." + t.Name
			if o.byName[name] != nil {
				continue
			}
			of := &offer{name: name, server: use.Server, mcp: t}
			if t.InputSchema != nil {
				if raw, err := json.Marshal(t.InputSchema); err == nil {
					if sch, err := flowspec.NewAnswerSchema(raw); err == nil {
						of.params = sch
					} else {
						sink.Log(fmt.Sprintf("tool %s: its input schema cannot be compiled, so its arguments go to the server unchecked: %v", name, err))
					}
				}
			}
			o.byName[name] = of
			pending = append(pending, of)
			o.served = append(o.served, servedTool{Name: name, Description: t.Description, Schema: t.InputSchema})
		}
	}
	// The tools of tools: took their names first; an MCP tool's name
	// then takes the first free one of its forms.
	for _, of := range pending {
		of.wire = o.freeWire(of)
		o.add(of)
	}
	return o, nil
}

func (o *offers) add(of *offer) {
	o.list = append(o.list, of)
	o.byName[of.name] = of
	o.byWire[of.wire] = of
}

// freeWire is the name an MCP tool is offered under: SERVER__TOOL when
// that fits what providers accept and is not taken, else that made to fit
// with a digest of the flow's name (and a count, were even that taken).
func (o *offers) freeWire(of *offer) string {
	base := of.server.Name + "__" + of.mcp.Name
	if wireNameRE.MatchString(base) && o.byWire[base] == nil {
		return base
	}
	sum := sha256.Sum256([]byte(of.name))
	tag := hex.EncodeToString(sum[:4])
	clean := wireBadRE.ReplaceAllString(base, "_")
	for n := 0; ; n++ {
		suffix := "_" + tag
		if n > 0 {
			suffix += fmt.Sprintf("_%d", n)
		}
		name := clean
		if len(name)+len(suffix) > 64 {
			name = name[:64-len(suffix)]
		}
		name += suffix
		if o.byWire[name] == nil {
			return name
		}
	}
}

// tools are the offers as the model is sent them.
func (o *offers) tools() []providers.Tool {
	if len(o.list) == 0 {
		return nil
	}
	out := make([]providers.Tool, 0, len(o.list))
	for _, of := range o.list {
		if of.local != nil {
			out = append(out, providers.Tool{Name: of.wire, Description: of.local.Description, Parameters: of.local.Parameters})
			continue
		}
		params := of.mcp.InputSchema
		if params == nil {
			params = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		out = append(out, providers.Tool{Name: of.wire, Description: of.mcp.Description, Parameters: params})
	}
	return out
}

// nameOf is the flow's name of a tool the model called by wire; the name
// itself when it is none offered (the call then fails, to the model).
func (o *offers) nameOf(wire string) string {
	if o == nil {
		return wire
	}
	if of := o.byWire[wire]; of != nil {
		return of.name
	}
	return wire
}

// wireOf is the name the model knows a recorded call's tool by.
func (o *offers) wireOf(name string) string {
	if o == nil {
		return name
	}
	if of := o.byName[name]; of != nil {
		return of.wire
	}
	return name
}

// names are the flow's names of the offers, for messages.
func (o *offers) names() string {
	out := make([]string, 0, len(o.list))
	for _, of := range o.list {
		out = append(out, of.name)
	}
	return strings.Join(out, ", ")
}

func toolNames(ts []work.MCPTool) string {
	if len(ts) == 0 {
		return "none"
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return strings.Join(out, ", ")
}

// digest is the cache key's part for the tools offered.
func (o *offers) digest(l *flowspec.LLMStep) string {
	return flowspec.ToolsDigest(l.Tools, l.MCP, o.served)
}

// callMCP calls an MCP tool. A server gone is the step's failure
// (serverDown), any other error the tool's.
func (c *conversation) callMCP(ctx context.Context, of *offer, args any) (out any, serverDown, err error) {
	if err := checkArgs(of, args); err != nil {
		return nil, nil, err
	}
	m, _ := args.(map[string]any)
	res, err := c.u.MCP.Call(ctx, of.server, of.mcp.Name, m)
	if errors.Is(err, work.ErrMCPServerDown) {
		return nil, fmt.Errorf("tool %s: %w", of.name, err), nil
	}
	if err != nil {
		return nil, nil, err
	}
	if res.IsError {
		return nil, nil, errors.New(flowspec.FormatValue(res.Output))
	}
	return c.sink.MaskValue(res.Output), nil, nil
}

// checkArgs validates an MCP call's arguments against the tool's input
// schema, as the server listed it.
func checkArgs(of *offer, args any) error {
	if _, ok := args.(map[string]any); !ok {
		return fmt.Errorf("the arguments of tool %s must be a JSON object, not %s", of.name, flowspec.FormatValue(args))
	}
	return flowspec.CheckArgs(of.params, args, "the input schema of tool "+of.name)
}
