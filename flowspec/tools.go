package flowspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultMaxTurns is how many model calls an llm step with tools makes at
// most when it sets no max_turns.
const DefaultMaxTurns = 10

// Tool is one entry of the flow's tools:, callable by the llm steps that
// list it. Exactly one of Run, Value and Wait is set.
type Tool struct {
	Name        string
	Description string
	Pos         Pos
	// Parameters is the JSON Schema of the arguments, an object schema.
	Parameters map[string]any
	Run        *Template // a command, as a checkpoint's run: (its ${{ }} reach sh as variables)
	Env        []EnvVar
	MaxOutput  int64     // defaults.max_output; 0 is DefaultMaxOutput
	Value      *Template // an expression over args
	Wait       *WaitTool // kind: wait, a question for a person
	// Sub is a flow: tool's sub-flow (its Inputs unused: a call's args
	// are the sub-flow's inputs).
	Sub *FlowStep

	params *AnswerSchema // Parameters, compiled
}

// WaitTool is a kind: wait tool: a call puts Question (over args) to a
// person, and the run waits, as at a wait step, until `kitaru input`
// answers it; the answer is the call's result.
type WaitTool struct {
	Question *Template
	Schema   map[string]any // JSON Schema of the answer; nil accepts any JSON
	Timeout  time.Duration  // how long the person may take; 0: no limit
}

// CheckArgs validates a call's arguments (as encoding/json decodes them)
// against the tool's parameters.
func (t *Tool) CheckArgs(args any) error {
	return CheckArgs(t.params, args, "the parameters of tool "+t.Name)
}

// CheckArgs validates a tool call's arguments against sch (nil: anything
// goes), what naming the schema in the error.
func CheckArgs(sch *AnswerSchema, args any, what string) error {
	if sch == nil {
		return nil
	}
	bad := sch.Validate(args)
	if len(bad) == 0 {
		return nil
	}
	msgs := make([]string, len(bad))
	for i, v := range bad {
		msgs[i] = v.Error()
	}
	return fmt.Errorf("the arguments do not match %s: %s", what, strings.Join(msgs, "; "))
}

// Tool returns the flow's tool named name, or nil.
func (f *Flow) Tool(name string) *Tool {
	for _, t := range f.Tools {
		if t.Name == name {
			return t
		}
	}
	return nil
}

var (
	// toolNameRE is what OpenAI and Anthropic both accept as a tool's name.
	toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	toolFields = []string{"description", "parameters", "run", "env", "value", "kind", "question", "schema", "timeout", "flow"}
)

// tools reads the flow's tools:.
func (l *loader) tools(n *yaml.Node) {
	if n = l.optionalMapping(n, "tools must be a mapping of tool names to {description, parameters, run or value}"); n == nil {
		return
	}
	l.comp.inTool = true
	defer func() { l.comp.inTool = false }()
	for _, p := range l.pairs(n, "tool") {
		if t := l.tool(p.key, p.val); t != nil {
			l.flow.Tools = append(l.flow.Tools, t)
		}
	}
}

func (l *loader) tool(key, n *yaml.Node) *Tool {
	t := &Tool{Name: key.Value, Pos: pos(key)}
	owner := "tool " + strconv.Quote(t.Name)
	if !toolNameRE.MatchString(t.Name) {
		l.e.add(pos(key), "%s: a tool's name may hold only letters, digits, _ and - (at most 64), as model providers require", owner)
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s must be a mapping with description, parameters and run: or value:, not %s", owner, nodeKind(n))
		return nil
	}
	fs := l.fields(n, "tool field", toolFields, nil)
	if p, ok := fs.get("kind"); ok {
		if k := l.scalar(p.val, "kind"); k == "wait" {
			t.Wait = &WaitTool{}
		} else {
			l.e.add(pos(p.val), "%s: kind must be wait, not %q (a command tool has run:, an expression tool value:)", owner, k)
			return nil
		}
	}
	if p, ok := fs.get("flow"); ok {
		if t.Sub = l.flowTool(owner, p.val); t.Sub == nil {
			return nil
		}
	}
	if p, ok := fs.get("description"); ok {
		t.Description = l.scalar(p.val, "description")
	}
	t.Parameters = map[string]any{"type": "object", "properties": map[string]any{}}
	if t.Sub != nil {
		t.Parameters = inputsSchema(t.Sub.Flow)
	}
	if p, ok := fs.get("parameters"); ok {
		if sch := l.schemaAt(p.val, owner, "parameters", "{type: object, properties: {city: {type: string}}}"); sch != nil {
			if ty, has := sch.Doc["type"]; has && ty != "object" {
				l.e.add(pos(resolve(p.val)), "%s: parameters must describe an object (type: object), as a tool's arguments are named, not %s", owner, FormatValue(ty))
			} else {
				if !has {
					sch.Doc["type"] = "object"
				}
				t.Parameters = sch.Doc
			}
		}
	}
	if raw, err := json.Marshal(t.Parameters); err == nil {
		t.params, _ = NewAnswerSchema(raw)
	}
	l.comp.toolArgs = closedArgs(t)
	defer func() { l.comp.toolArgs = nil }()
	l.waitTool(t, owner, n, fs) // after parameters: its question's args.X are checked against them
	if p, ok := fs.get("run"); ok {
		t.Run = l.template(p.val, owner+" run", false, false)
		if strings.TrimSpace(t.Run.Source()) == "" {
			l.e.add(pos(resolve(p.val)), "%s: run is empty", owner)
		}
		l.shellTemplate(p.val, t.Run)
		t.MaxOutput = l.flow.Defaults.MaxOutput
	}
	if p, ok := fs.get("env"); ok {
		if t.Run == nil {
			l.e.add(pos(p.key), "%s: env only goes with run:", owner)
		} else {
			t.Env = l.envOf(owner, p.val, false)
			l.checkToolEnv(owner, t.Env)
		}
	}
	if p, ok := fs.get("value"); ok {
		t.Value = l.toolValue(owner, p.val)
	}
	switch {
	case t.Sub != nil:
		for _, f := range []string{"run", "value", "env", "kind"} {
			if p, ok := fs.get(f); ok {
				l.e.add(pos(p.key), "%s: %s does not go with flow: (the sub-flow gives the result)", owner, f)
			}
		}
	case t.Wait != nil:
		for _, f := range []string{"run", "value", "env"} {
			if p, ok := fs.get(f); ok {
				l.e.add(pos(p.key), "%s: %s does not go with kind: wait (a person gives the result)", owner, f)
			}
		}
	case t.Run != nil && t.Value != nil:
		l.e.add(pos(fs.field("value").key), "%s has both run and value; keep one of them", owner)
	case t.Run == nil && t.Value == nil && !l.typos["run"] && !l.typos["value"] && !l.typos["flow"]:
		l.e.add(pos(n), "%s needs run: (a shell command), value: (an expression over args) or flow: (a sub-flow)", owner)
	}
	return t
}

// waitTool reads what a kind: wait tool has beside: its question, the
// answer's schema and timeout; they go with kind: wait only.
func (l *loader) waitTool(t *Tool, owner string, n *yaml.Node, fs fieldSet) {
	if t.Wait == nil {
		for _, f := range []string{"question", "schema", "timeout"} {
			if p, ok := fs.get(f); ok {
				l.e.add(pos(p.key), "%s: %s goes with kind: wait (a question for a person)", owner, f)
			}
		}
		return
	}
	if p, ok := fs.get("question"); ok {
		t.Wait.Question = l.template(p.val, owner+" question", false, false)
	} else if !l.typos["question"] {
		l.e.add(pos(n), "%s: a kind: wait tool needs a question: to show the person who answers, e.g. question: ${{ args.question }}", owner)
	}
	if t.Wait.Question == nil {
		t.Wait.Question = literalTemplate("")
	}
	if p, ok := fs.get("schema"); ok {
		if sch := l.schemaAt(p.val, owner, "schema", "{type: boolean}"); sch != nil {
			t.Wait.Schema = sch.Doc
		}
	}
	if p, ok := fs.get("timeout"); ok {
		t.Wait.Timeout = l.duration(p.val, "timeout")
	}
}

// toolValue reads a tool's value: a template, or YAML data kept as is.
func (l *loader) toolValue(owner string, n *yaml.Node) *Template {
	n = resolve(n)
	field := owner + " value"
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "" || n.Style != 0) {
		return l.template(n, field, false, false)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		l.e.add(pos(n), "%s: the value cannot be read: %v", owner, err)
		return literalTemplate("")
	}
	if hasPlaceholder(v) {
		l.e.add(pos(n), "%s: ${{ }} inside a YAML map or list is not evaluated; write the whole value as one expression", owner)
	}
	return constTemplate(v, FormatValue(v), field, pos(n))
}

// llmTools reads an llm step's tools: and max_turns.
func (c *stepCtx) llmTools(b *LLMStep) {
	l, s, fs := c.l, c.s, c.fs
	p, ok := fs.get("tools")
	if ok {
		v := resolve(p.val)
		if v.Kind != yaml.SequenceNode {
			l.e.add(pos(v), "step %q: tools must be a list of tool names, e.g. tools: [lookup], not %s", s.ID, nodeKind(v))
		}
		names := make([]string, 0, len(l.flow.Tools))
		for _, t := range l.flow.Tools {
			names = append(names, t.Name)
		}
		for _, it := range v.Content {
			name := l.scalar(it, "a tool name")
			if c.mcpUse(b, it, name) {
				continue
			}
			switch t := l.flow.Tool(name); {
			case name == "":
			case t == nil:
				l.e.add(pos(resolve(it)), "step %q: %s", s.ID, unknownMsg("tool", name, names, "the flow declares no tools: add them under tools: at the top"))
			case slices.Contains(b.Tools, t):
				l.e.add(pos(resolve(it)), "step %q: tool %q is listed twice", s.ID, name)
			default:
				b.Tools = append(b.Tools, t)
				// What its templates read counts as the step's: a replay
				// sees a changed input.
				for _, tt := range t.templates() {
					c.parts.other = append(c.parts.other, tt)
				}
			}
		}
		b.MaxTurns = DefaultMaxTurns
	}
	if f, has := c.number("max_turns", "a whole number from 1 to 10000", 1, 10000, true); has {
		if !ok {
			l.e.add(pos(fs.field("max_turns").key), "step %q: max_turns only goes with tools: (it bounds the model calls of the tool loop)", s.ID)
		}
		b.MaxTurns = int(f)
	}
}

// templates are the tool's templates, for what they read.
func (t *Tool) templates() []*Template {
	out := []*Template{}
	if t.Run != nil {
		out = append(out, t.Run)
	}
	if t.Value != nil {
		out = append(out, t.Value)
	}
	if t.Wait != nil {
		out = append(out, t.Wait.Question)
	}
	for _, e := range t.Env {
		out = append(out, e.Value)
	}
	return out
}

// toolDoc is what a step's fingerprint covers of a tool it offers.
type toolDoc struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters"`
	Run         *string        `json:"run,omitempty"`
	Env         [][2]string    `json:"env,omitempty"`
	MaxOutput   int64          `json:"max_output,omitempty"`
	Value       *string        `json:"value,omitempty"`
	ValueConst  any            `json:"value_const,omitempty"`
	Wait        *waitToolDoc   `json:"wait,omitempty"`
	Flow        string         `json:"flow,omitempty"` // its sub-flow's content
}

type waitToolDoc struct {
	Question string         `json:"question"`
	Schema   map[string]any `json:"schema,omitempty"`
	Timeout  time.Duration  `json:"timeout,omitempty"`
}

func toolDocs(ts []*Tool) []toolDoc {
	var out []toolDoc
	for _, t := range ts {
		d := toolDoc{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Run: srcPtr(t.Run), MaxOutput: t.MaxOutput}
		if t.Sub != nil {
			d.Flow = t.Sub.Content
		}
		for _, e := range t.Env {
			d.Env = append(d.Env, [2]string{e.Name, e.Value.Source()})
		}
		if t.Value != nil && t.Value.hasConstant && jsonable(t.Value.constant) {
			d.ValueConst = t.Value.constant
		} else {
			d.Value = srcPtr(t.Value)
		}
		if w := t.Wait; w != nil {
			d.Wait = &waitToolDoc{Question: w.Question.Source(), Schema: w.Schema, Timeout: w.Timeout}
		}
		out = append(out, d)
	}
	return out
}

// ToolsDigest is a digest of what the tools do (the same parts as a
// step's fingerprint covers), "" for none: a cache key includes it, so an
// answer reached with a tool since edited is not taken again.
//
// An MCP tool's part is the server as declared (mcp) and served: what the
// running server listed of the tools offered (names, descriptions,
// schemas), which the flow cannot say.
func ToolsDigest(ts []*Tool, mcp []MCPUse, served any) string {
	if len(ts) == 0 && len(mcp) == 0 {
		return ""
	}
	var doc any = toolDocs(ts)
	if len(mcp) > 0 {
		doc = map[string]any{"tools": doc, "mcp": mcpDocs(mcp), "served": served}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func jsonable(v any) bool {
	_, err := json.Marshal(v)
	return err == nil
}
