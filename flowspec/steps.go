package flowspec

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"gopkg.in/yaml.v3"

	"github.com/kitaruhq/kitaru/internal/textcut"
)

// stepFields are the fields a step of each kind may have ("": unknown kind).
var stepFields = func() map[Kind][]string {
	m := map[Kind][]string{"": slices.Clone(commonFields)}
	for _, k := range kinds {
		m[Kind(k)] = append(slices.Clone(commonFields), kindFields[Kind(k)]...)
		m[""] = append(m[""], kindFields[Kind(k)]...)
	}
	return m
}()

// stepIDs reads the steps mapping's keys, reporting bad and duplicate ids.
func (l *loader) stepIDs(n *yaml.Node) []kv {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" || n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		l.e.add(pos(n), "steps is empty; add at least one step")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		hint := ""
		if n.Kind == yaml.SequenceNode {
			hint = " (steps is a mapping: write each step's id as the key, e.g. outline: {kind: llm, prompt: ...})"
		}
		l.e.add(pos(n), "steps must be a mapping of step ids to steps, not %s%s", nodeKind(n), hint)
		return nil
	}
	var out []kv
	for _, p := range l.pairs(n, "step") {
		if len(p.key.Value) > MaxStepIDLength {
			l.e.add(pos(p.key), "step id %q is %d characters long; the limit is %d, as the id names the step's directory in a run: shorten it", textcut.Runes(p.key.Value, 40), len(p.key.Value), MaxStepIDLength)
		} else if !isStepID(p.key.Value) {
			l.e.add(pos(p.key), "step id %q must start with a letter or _ and hold only letters, digits, _ and -", p.key.Value)
		}
		out = append(out, p)
	}
	return out
}

// stepParts are a step's template fields, for its dependencies.
type stepParts struct {
	ifT   *Template
	other []*Template
	needs []string
}

func (l *loader) step(key, n *yaml.Node) *Step {
	s := &Step{ID: key.Value, Pos: pos(key)}
	parts := &stepParts{}
	l.stepBody(s, parts, n)
	l.resolveDeps(s, parts)
	l.noteErrorReads(s, parts)
	return s
}

func (l *loader) stepBody(s *Step, parts *stepParts, n *yaml.Node) {
	d := l.flow.Defaults
	s.Retry, s.Timeout = d.Retry, d.Timeout
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "step %q must be a mapping with kind: and its fields, not %s", s.ID, nodeKind(n))
		return
	}
	c := &stepCtx{l: l, s: s, n: n, parts: parts}
	c.readFields()
	fs := c.fs

	if p, ok := fs.get("description"); ok {
		s.Description = l.scalar(p.val, "description")
	}
	if p, ok := fs.get("needs"); ok {
		parts.needs = l.needs(s.ID, p.val)
	}
	_, c.inForeach = fs.get("foreach")
	if p, ok := fs.get("if"); ok {
		before := len(l.e.list)
		if c.inForeach {
			l.comp.itemReason = "if decides for the whole step, before its items run"
		}
		l.comp.inIf = true
		s.If = l.template(p.val, c.field("if"), true, false)
		l.comp.itemReason, l.comp.inIf = "", false
		parts.ifT = s.If
		s.IfAfterFailure = l.comp.callsAfterFailure(s.If.Source())
		if len(l.e.list) == before && s.If.lazy == nil {
			l.checkCondition(s, p.val)
		}
	}
	if p, ok := fs.get("continue_on_error"); ok {
		s.ContinueOnError = l.boolean(p.val, c.field("continue_on_error"))
	}
	if p, ok := fs.get("retry"); ok {
		s.Retry = l.retry(p.val, d.Retry)
	}
	if p, ok := fs.get("timeout"); ok {
		s.Timeout = l.duration(p.val, "timeout")
	} else if s.Kind == KindWait {
		// defaults.timeout bounds work a step does; how long a person may
		// take to answer is only what the wait step itself says.
		s.Timeout = 0
	}
	if p, ok := fs.get("foreach"); ok && s.Kind == KindWait {
		// An item has no waiting state of its own to answer.
		l.e.add(pos(p.key), "step %q: a wait step cannot use foreach (one question per item is not supported); ask once, e.g. for a list, with schema: {type: array}", s.ID)
	} else if ok {
		if s.Foreach = l.foreach(s, p.val); s.Foreach != nil {
			parts.other = append(parts.other, s.Foreach)
		}
	}
	if p, ok := fs.get("output"); ok {
		switch o := l.scalar(p.val, "output"); o {
		case "json":
			s.OutputJSON = true
		case "text":
		default:
			l.e.add(pos(p.val), "step %q: output must be json (parse the result as JSON) or text, not %q", s.ID, o)
		}
	}
	switch s.Kind {
	case KindLLM:
		c.llm(d)
	case KindCheckpoint:
		c.checkpoint()
	case KindWait:
		c.wait()
	case KindFlow:
		c.flowStep()
	}
}

// stepCtx is one step being read.
type stepCtx struct {
	l         *loader
	s         *Step
	n         *yaml.Node
	parts     *stepParts
	fs        fieldSet
	typos     map[string]bool // fields that were only misspelt
	inForeach bool
}

// readFields reads the kind first, since it decides which fields are
// allowed, then the fields.
func (c *stepCtx) readFields() {
	l, s := c.l, c.s
	var kindNode *yaml.Node
	pairs := l.pairs(c.n, "field")
	for _, p := range pairs {
		if p.key.Value == "kind" {
			kindNode = p.val
		}
	}
	if kindNode == nil {
		l.e.add(pos(c.n), "step %q has no kind; add kind: llm, checkpoint, wait or flow", s.ID)
	} else {
		k := l.scalar(kindNode, "kind")
		if slices.Contains(kinds, k) {
			s.Kind = Kind(k)
		} else {
			l.e.add(pos(kindNode), "step %q: %s", s.ID, unknownMsg("kind", k, kinds, ""))
		}
	}
	// Without a kind, every kind's fields are accepted: the kind error is
	// the one to fix.
	known := stepFields[s.Kind]
	fs := l.fieldsOf(l.stepFS, pairs, "field", known, func(key string) string {
		for _, k := range kinds {
			if slices.Contains(kindFields[Kind(k)], key) {
				return fmt.Sprintf("step %q: %s is a field of %s steps, not of %s steps", s.ID, key, k, s.Kind)
			}
		}
		return fmt.Sprintf("step %q: %s", s.ID, unknownMsg("field", key, known, ""))
	})
	l.stepFS = fs // its array serves the next step
	c.fs, c.typos = fs, l.typos
}

func (c *stepCtx) field(name string) string { return stepField(c.s.ID, name) }

// stepField names a field of a step in messages: step "outline" prompt.
// (fmt.Sprintf was a visible part of loading a long flow.)
func stepField(id, name string) string { return "step " + strconv.Quote(id) + " " + name }

// tmpl compiles the template field name, or returns nil when it is absent.
func (c *stepCtx) tmpl(name string) *Template {
	p, ok := c.fs.get(name)
	if !ok {
		return nil
	}
	t := c.l.template(p.val, c.field(name), false, c.inForeach)
	c.parts.other = append(c.parts.other, t)
	if (name == "prompt" || name == "run" || name == "question") && strings.TrimSpace(t.Source()) == "" {
		c.l.e.add(pos(resolve(p.val)), "step %q: %s is empty", c.s.ID, name)
	}
	return t
}

// number reads a numeric field within [lo, hi]; ok is false when it is
// absent or wrong (and then reported).
func (c *stepCtx) number(name, what string, lo, hi float64, whole bool) (float64, bool) {
	p, ok := c.fs.get(name)
	if !ok {
		return 0, false
	}
	v := resolve(p.val)
	f, err := strconv.ParseFloat(v.Value, 64)
	if v.Kind != yaml.ScalarNode || v.Tag == "!!str" || err != nil || f < lo || f > hi || whole && f != float64(int(f)) {
		c.l.e.add(pos(v), "step %q: %s must be %s, not %s", c.s.ID, name, what, nodeKind(v))
		return 0, false
	}
	return f, true
}

func (c *stepCtx) llm(d Defaults) {
	l, s, fs := c.l, c.s, c.fs
	b := &LLMStep{Model: d.Model, Fallbacks: d.Fallbacks}
	s.LLM = b
	b.System = c.tmpl("system")
	b.Prompt = c.tmpl("prompt")
	msgs, hasMsgs := fs.get("messages")
	if hasMsgs {
		b.Messages = l.messages(s, msgs.val, c.parts, c.inForeach)
	}
	switch {
	case b.Prompt != nil && hasMsgs:
		l.e.add(pos(msgs.key), "step %q has both prompt and messages; keep one of them", s.ID)
	case b.Prompt == nil && !hasMsgs && !c.typos["prompt"] && !c.typos["messages"]:
		l.e.add(pos(c.n), "llm step %q needs a prompt: (or messages:); add prompt: with what to ask the model", s.ID)
	}
	if p, ok := fs.get("model"); ok {
		// The step's model (or list) replaces the default's whole list.
		if m, more := l.models(p.val); m != "" {
			b.Model, b.Fallbacks = m, more
		}
	}
	if f, ok := c.number("temperature", "a number from 0 to 2", 0, 2, false); ok {
		b.Temperature = &f
	}
	if f, ok := c.number("max_tokens", "a whole number of at least 1", 1, math.MaxInt32, true); ok {
		b.MaxTokens = int(f)
	}
	c.llmTools(b)
	c.answerSchema(b)
	c.stepCache(b, d)
}

// answerSchema reads an llm step's schema and schema_retries.
func (c *stepCtx) answerSchema(b *LLMStep) {
	l, s, fs := c.l, c.s, c.fs
	p, hasSchema := fs.get("schema")
	if hasSchema {
		b.Schema = l.schema(s, p.val)
		b.SchemaRetries = DefaultSchemaRetries
		if o, ok := fs.get("output"); ok && !s.OutputJSON && resolve(o.val).Value == "text" {
			l.e.add(pos(o.key), "step %q: output: text does not go with schema:, which makes the output the parsed answer; remove output:", s.ID)
		}
	}
	what := fmt.Sprintf("a whole number from 0 to %d (how many times an answer that breaks the schema is asked for again)", MaxSchemaRetries)
	if f, ok := c.number("schema_retries", what, 0, MaxSchemaRetries, true); ok {
		if !hasSchema {
			l.e.add(pos(fs.field("schema_retries").key), "step %q: schema_retries only goes with schema: (the JSON Schema its answer must follow)", s.ID)
		}
		b.SchemaRetries = int(f)
	}
}

func (c *stepCtx) checkpoint() {
	l, s, fs := c.l, c.s, c.fs
	b := &CheckpointStep{}
	s.Checkpoint = b
	if b.Run = c.tmpl("run"); b.Run != nil {
		l.shellTemplate(fs.field("run").val, b.Run)
	}
	if p, ok := fs.get("value"); ok {
		b.Value = l.value(s, p.val, c.inForeach)
		c.parts.other = append(c.parts.other, b.Value)
	}
	switch {
	case b.Run != nil && b.Value != nil:
		l.e.add(pos(fs.field("value").key), "checkpoint step %q has both run and value; keep one of them", s.ID)
	case b.Run == nil && b.Value == nil && !c.typos["run"] && !c.typos["value"]:
		l.e.add(pos(c.n), "checkpoint step %q needs run: (a shell command) or value: (an expression)", s.ID)
	}
	if b.Value != nil && b.Run == nil {
		for _, f := range []string{"stdin", "env", "dir", "secrets", "max_output"} {
			if p, ok := fs.get(f); ok {
				l.e.add(pos(p.key), "step %q: %s only goes with run:, and this step has value:", s.ID, f)
				fs.drop(f)
			}
		}
		if s.OutputJSON {
			l.e.add(pos(fs.field("output").key), "step %q: output: json only goes with run: (a value is already data)", s.ID)
		}
	}
	b.Stdin = c.tmpl("stdin")
	b.Dir = c.tmpl("dir")
	if p, ok := fs.get("env"); ok {
		b.Env = l.env(s, p.val, c.parts, c.inForeach)
	}
	if p, ok := fs.get("secrets"); ok {
		b.Secrets = l.secrets(s, p.val)
	}
	if b.Run != nil {
		b.MaxOutput = l.flow.Defaults.MaxOutput
	}
	if p, ok := fs.get("max_output"); ok {
		b.MaxOutput = l.maxOutput(p.val, "step "+strconv.Quote(s.ID)+": ")
	}
}

func (c *stepCtx) wait() {
	l, s, fs := c.l, c.s, c.fs
	b := &WaitStep{}
	s.Wait = b
	if b.Question = c.tmpl("question"); b.Question == nil {
		if !c.typos["question"] {
			l.e.add(pos(c.n), "wait step %q needs a question: to show the person who answers", s.ID)
		}
		b.Question = literalTemplate("")
	}
	if p, ok := fs.get("schema"); ok {
		if sch := l.schema(s, p.val); sch != nil {
			b.Schema = sch.Doc
		}
	}
	if s.OutputJSON {
		l.e.add(pos(fs.field("output").key), "step %q: output: json only goes with llm steps and run: steps (an answer is already JSON)", s.ID)
	}
}

func (l *loader) needs(id string, n *yaml.Node) []string {
	n = resolve(n)
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		l.e.add(pos(n), "step %q: needs must be a list of step ids, not %s", id, nodeKind(n))
		return nil
	}
	var out []string
	for _, it := range items {
		it = resolve(it)
		name := l.scalar(it, "a needs entry")
		switch {
		case name == "":
		case name == id:
			l.e.add(pos(it), "step %q needs itself; remove it from needs", id)
		case !l.comp.hasStep(name):
			l.e.add(pos(it), "step %q needs %s", id, unknownMsg("step", name, l.comp.stepIDs, ""))
		case slices.Contains(out, name):
		default:
			out = append(out, name)
		}
	}
	return out
}

func (l *loader) foreach(s *Step, n *yaml.Node) *Template {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		l.e.add(pos(n), "step %q: foreach must be an expression that yields a list, e.g. foreach: inputs.topics; for fixed items write foreach: '${{ [\"a\", \"b\"] }}'", s.ID)
		return nil
	}
	before := len(l.e.list)
	l.comp.itemReason = "foreach makes the items"
	t := l.template(n, stepField(s.ID, "foreach"), true, false)
	l.comp.itemReason = ""
	if len(l.e.list) > before || !t.whole || t.lazy != nil {
		return t
	}
	c := t.parts[0].expr
	if c == nil {
		return t
	}
	// Say so now when the expression cannot give a list.
	node := c.prog.Node()
	if in := l.inputOf(node); in != nil && in.Type != "" && in.Type != "list" {
		l.e.add(pos(n), "step %q: foreach needs a list, but input %q is of type %s; declare it with type: list", s.ID, in.Name, in.Type)
		return t
	}
	switch node.Type().Kind() {
	case reflect.Slice, reflect.Array, reflect.Interface:
	default:
		l.e.add(pos(n), "step %q: foreach needs a list, but ${{ %s }} gives a %s", s.ID, strings.TrimSpace(c.src), kindWord(node.Type()))
	}
	return t
}

// checkCondition says at load time when an if can never give true or false.
func (l *loader) checkCondition(s *Step, n *yaml.Node) {
	c := s.If.parts[0].expr
	if c == nil {
		return
	}
	node := c.prog.Node()
	if in := l.inputOf(node); in != nil && in.Type != "" && in.Type != "boolean" {
		l.e.add(pos(resolve(n)), "step %q: if needs true or false, but input %q is of type %s; compare it, e.g. if: inputs.%s == \"yes\"", s.ID, in.Name, in.Type, in.Name)
		return
	}
	switch node.Type().Kind() {
	case reflect.Bool, reflect.Interface:
	default:
		what := kindWord(node.Type())
		if strings.HasPrefix(what, "func") {
			what += fmt.Sprintf("; call it: %s()", strings.TrimSpace(c.src))
		}
		l.e.add(pos(resolve(n)), "step %q: if needs true or false, but ${{ %s }} gives a %s", s.ID, strings.TrimSpace(c.src), what)
	}
}

// inputOf returns the declared input an expression is exactly (inputs.x).
func (l *loader) inputOf(node ast.Node) *Input {
	m, ok := node.(*ast.MemberNode)
	if !ok {
		return nil
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "inputs" {
		return nil
	}
	p, ok := m.Property.(*ast.StringNode)
	if !ok {
		return nil
	}
	return l.comp.inputs[p.Value]
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Map, reflect.Struct:
		return "map"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "number"
	}
	return t.String()
}

// value reads a checkpoint's value: a template, or YAML data kept as is.
func (l *loader) value(s *Step, n *yaml.Node, inForeach bool) *Template {
	n = resolve(n)
	field := stepField(s.ID, "value")
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "" || n.Style != 0) {
		return l.template(n, field, false, inForeach)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		l.e.add(pos(n), "step %q: the value cannot be read: %v", s.ID, err)
		return literalTemplate("")
	}
	if hasPlaceholder(v) {
		l.e.add(pos(n), "step %q: ${{ }} inside a YAML map or list is not evaluated; write the whole value as one expression, e.g. value: '${{ {\"a\": steps.x.output} }}'", s.ID)
	}
	if n.Kind == yaml.ScalarNode {
		return constTemplate(v, n.Value, field, pos(n))
	}
	return constTemplate(v, FormatValue(v), field, pos(n))
}

func hasPlaceholder(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "${{")
	case []any:
		return slices.ContainsFunc(x, hasPlaceholder)
	case map[string]any:
		for k, e := range x {
			if hasPlaceholder(k) || hasPlaceholder(e) {
				return true
			}
		}
	}
	return false
}

func (l *loader) messages(s *Step, n *yaml.Node, parts *stepParts, inForeach bool) []Message {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.e.add(pos(n), "step %q: messages must be a list of {role, content}, not %s", s.ID, nodeKind(n))
		return nil
	}
	var out []Message
	for i, m := range n.Content {
		m = resolve(m)
		if m.Kind != yaml.MappingNode {
			l.e.add(pos(m), "step %q: message %d must be a mapping {role: user, content: ...}, not %s", s.ID, i+1, nodeKind(m))
			continue
		}
		fs := l.fields(m, "message field", []string{"role", "content"}, nil)
		msg := Message{}
		if r, ok := fs.get("role"); ok {
			msg.Role = l.scalar(r.val, "role")
			if !slices.Contains(messageRoles, msg.Role) {
				l.e.add(pos(r.val), "step %q: message %d: %s", s.ID, i+1, unknownMsg("role", msg.Role, messageRoles, ""))
			}
		} else {
			l.e.add(pos(m), "step %q: message %d has no role; add role: system, user or assistant", s.ID, i+1)
		}
		if c, ok := fs.get("content"); ok {
			msg.Content = l.template(c.val, fmt.Sprintf("step %q message %d content", s.ID, i+1), false, inForeach)
			parts.other = append(parts.other, msg.Content)
		} else {
			l.e.add(pos(m), "step %q: message %d has no content", s.ID, i+1)
			msg.Content = literalTemplate("")
		}
		out = append(out, msg)
	}
	return out
}

func (l *loader) env(s *Step, n *yaml.Node, parts *stepParts, inForeach bool) []EnvVar {
	out := l.envOf("step "+strconv.Quote(s.ID), n, inForeach)
	for _, e := range out {
		parts.other = append(parts.other, e.Value)
	}
	return out
}

// envOf reads an env: mapping of owner (`step "a"`, `tool "b"`).
func (l *loader) envOf(owner string, n *yaml.Node, inForeach bool) []EnvVar {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s: env must be a mapping of NAME: value, not %s", owner, nodeKind(n))
		return nil
	}
	var out []EnvVar
	for _, p := range l.pairs(n, "environment variable") {
		if !envNameRE.MatchString(p.key.Value) {
			l.e.add(pos(p.key), "%s: %q is not a valid environment variable name (letters, digits and _, not starting with a digit)", owner, p.key.Value)
		} else if strings.HasPrefix(p.key.Value, ShellVarPrefix) {
			l.e.add(pos(p.key), "%s: %s is a name kitaru gives the values of ${{ }} in run:; choose a name that does not start with %s", owner, p.key.Value, ShellVarPrefix)
		}
		t := l.template(p.val, owner+" env "+p.key.Value, false, inForeach)
		out = append(out, EnvVar{Name: p.key.Value, Value: t})
	}
	return out
}

func (l *loader) secrets(s *Step, n *yaml.Node) []string {
	return l.secretsOf("step "+strconv.Quote(s.ID), n)
}

// secretsOf reads a list of secret names of owner (a step, an MCP server).
func (l *loader) secretsOf(owner string, n *yaml.Node) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		l.e.add(pos(n), "%s: secrets must be a list of secret names, e.g. secrets: [webhook], not %s", owner, nodeKind(n))
		return nil
	}
	var out []string
	for _, it := range n.Content {
		it = resolve(it)
		name := l.scalar(it, "a secret name")
		if name == "" {
			continue
		}
		if slices.Contains(out, name) {
			l.e.add(pos(it), "%s: secret %q is listed twice", owner, name)
			continue
		}
		out = append(out, name)
		l.flow.Uses = append(l.flow.Uses, Use{UseSecret, name, pos(it)})
	}
	return out
}

// resolveDeps sets a step's dependencies from needs and its expressions.
// Steps read few names, so small slices serve better than maps here.
func (l *loader) resolveDeps(s *Step, p *stepParts) {
	var referenced, inIf, inputs []string
	// What something other than foreach reads: an item depends on it.
	var itemSteps, itemInputs []string
	index := false
	for _, t := range p.other {
		referenced = appendNew(referenced, t.Refs().Steps)
		inputs = appendNew(inputs, t.Refs().Inputs)
		if t != s.Foreach {
			itemSteps = appendNew(itemSteps, t.Refs().Steps)
			itemInputs = appendNew(itemInputs, t.Refs().Inputs)
			index = index || t.Refs().Index
		}
	}
	if p.ifT != nil {
		inIf = appendNew(inIf, p.ifT.Refs().Steps)
		inputs = appendNew(inputs, p.ifT.Refs().Inputs)
		itemSteps = appendNew(itemSteps, p.ifT.Refs().Steps)
		itemInputs = appendNew(itemInputs, p.ifT.Refs().Inputs)
	}
	deps := appendNew(appendNew(appendNew(nil, p.needs), referenced), inIf)
	for _, id := range inIf {
		if !slices.Contains(p.needs, id) && !slices.Contains(referenced, id) {
			if s.IfOnlyDeps == nil {
				s.IfOnlyDeps = map[string]bool{}
			}
			s.IfOnlyDeps[id] = true
		}
	}
	// File order.
	slices.SortFunc(deps, func(a, b string) int { return l.comp.index[a] - l.comp.index[b] })
	s.Deps = deps
	if len(inputs) > 0 {
		slices.Sort(inputs)
		s.InputRefs = inputs
	}
	if s.Foreach != nil {
		b := &ItemBasis{Index: index, step: s}
		for _, d := range s.Deps {
			if slices.Contains(p.needs, d) || slices.Contains(itemSteps, d) {
				b.Steps = append(b.Steps, d)
			}
		}
		for _, in := range s.InputRefs {
			if slices.Contains(itemInputs, in) {
				b.Inputs = append(b.Inputs, in)
			}
		}
		s.Items = b
	}
}

// appendNew appends the names of add that list does not hold yet.
func appendNew(list, add []string) []string {
	for _, x := range add {
		if !slices.Contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

// isStepID matches ^[A-Za-z_][A-Za-z0-9_-]*$ without the regexp engine, which was a visible part
// of loading a long flow.
func isStepID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c == '-' || c >= '0' && c <= '9'):
		default:
			return false
		}
	}
	return true
}
