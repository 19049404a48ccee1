package flowspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Built-in defaults for what neither a step nor the flow's defaults set.
const (
	DefaultAttempts = 1
	DefaultBackoff  = time.Second
)

var (
	flowNameRE  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	stepIDRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	inputNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRE  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

var (
	topFields      = []string{"name", "description", "inputs", "defaults", "steps", "output"}
	inputFields    = []string{"type", "description", "default"}
	inputTypes     = []string{"string", "integer", "number", "boolean", "list", "object"}
	defaultsFields = []string{"model", "retry", "timeout"}
	retryFields    = []string{"attempts", "backoff"}
	kinds          = []string{string(KindLLM), string(KindCheckpoint), string(KindWait)}
	commonFields   = []string{"kind", "description", "needs", "if", "retry", "timeout", "foreach", "output"}
	kindFields     = map[Kind][]string{
		KindLLM:        {"prompt", "messages", "system", "model", "temperature", "max_tokens"},
		KindCheckpoint: {"run", "stdin", "env", "dir", "secrets", "value"},
		KindWait:       {"question", "schema"},
	}
	messageRoles = []string{"system", "user", "assistant"}
)

// Load reads and compiles the flow file at path. Problems in the file are
// returned together as a *ErrorList.
func Load(path string, opts Options) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the flow file: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse compiles a flow from data; file names it in error messages.
func Parse(file string, data []byte, opts Options) (f *Flow, err error) {
	l := &loader{e: errs{file: file}, opts: opts, data: data}
	defer func() {
		// A panic here is a bug, but the user still gets a sentence.
		if r := recover(); r != nil {
			f = nil
			err = &ErrorList{{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("internal error while loading the flow (please report it): %v", r)}}
		}
	}()
	f = l.load()
	if err := l.e.err(); err != nil {
		return nil, err
	}
	return f, nil
}

type loader struct {
	e     errs
	opts  Options
	data  []byte
	lines [][]byte
	comp  *compiler
	flow  *Flow
	// typos are the known names the last fields call suggested for unknown
	// keys: a missing field that was only misspelt is not reported twice.
	typos map[string]bool
}

type kv struct {
	key, val *yaml.Node
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (l *loader) load() *Flow {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(l.data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		l.yamlError(err)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		l.e.add(Pos{next.Line, next.Column}, "a flow file holds one YAML document; this is a second one (after ---): put it in its own file")
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		l.e.add(Pos{1, 1}, "the file is empty; a flow needs at least name: and steps:")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		l.e.add(pos(root), "a flow file must be a mapping with name:, steps: and so on, not %s", nodeKind(root))
		return nil
	}
	f := &Flow{File: l.e.file, Source: l.data, byID: map[string]*Step{}}
	l.flow = f
	fields := l.fields(root, "top-level field", topFields, nil)
	topTypos := l.typos

	if n, ok := fields["name"]; ok {
		f.Name = l.scalar(n.val, "name")
		if f.Name != "" && !flowNameRE.MatchString(f.Name) {
			l.e.add(pos(n.val), "name %q may only contain lowercase letters, digits, _ and -; e.g. %s", f.Name, suggestName(f.Name))
		}
	}
	if f.Name == "" && !topTypos["name"] {
		if _, ok := fields["name"]; ok {
			l.e.add(pos(fields["name"].val), "name is empty; give the flow a name such as my_flow")
		} else {
			l.e.add(pos(root), "the flow has no name; add a line such as name: my_flow")
		}
	}
	if n, ok := fields["description"]; ok {
		f.Description = l.scalar(n.val, "description")
	}
	if n, ok := fields["inputs"]; ok {
		l.inputs(n.val)
	}
	f.Defaults = Defaults{Retry: Retry{Attempts: DefaultAttempts, Backoff: DefaultBackoff}}
	if n, ok := fields["defaults"]; ok {
		l.defaults(n.val)
	}
	stepsNode := (*yaml.Node)(nil)
	if n, ok := fields["steps"]; ok {
		stepsNode = resolve(n.val)
	} else if !topTypos["steps"] {
		l.e.add(pos(root), "the flow has no steps; add steps: with at least one step")
	}
	var stepKVs []kv
	if stepsNode != nil {
		stepKVs = l.stepIDs(stepsNode)
	}
	ids := make([]string, 0, len(stepKVs))
	for _, s := range stepKVs {
		ids = append(ids, s.key.Value)
	}
	l.comp = newCompiler(f.Inputs, ids)
	for _, s := range stepKVs {
		st := l.step(s.key, s.val)
		f.Steps = append(f.Steps, st)
		f.byID[st.ID] = st
	}
	if n, ok := fields["output"]; ok {
		f.Output = l.template(n.val, "output", false, false)
	}
	l.graph()
	for _, s := range f.Steps {
		s.Fingerprint = fingerprint(s)
	}
	return f
}

// fields reads a mapping's keys, reporting duplicates and unknown keys.
// other, when set, explains a key known elsewhere (e.g. a field of another
// step kind); it returns "" for keys it does not know either.
func (l *loader) fields(n *yaml.Node, what string, known []string, other func(key string) string) map[string]kv {
	return l.fieldsOf(l.pairs(n, what), what, known, other)
}

// fieldsOf is fields over pairs already read.
func (l *loader) fieldsOf(pairs []kv, what string, known []string, other func(key string) string) map[string]kv {
	out := map[string]kv{}
	l.typos = map[string]bool{}
	for _, p := range pairs {
		k := p.key.Value
		if !slices.Contains(known, k) {
			if s := suggest(k, known); s != "" {
				l.typos[s] = true
			}
			if other != nil {
				if msg := other(k); msg != "" {
					l.e.add(pos(p.key), "%s", msg)
					continue
				}
			}
			l.e.add(pos(p.key), "%s", unknownMsg(what, k, known, ""))
			continue
		}
		out[k] = p
	}
	return out
}

// pairs returns a mapping's key/value pairs, reporting keys given twice at
// the second one.
func (l *loader) pairs(n *yaml.Node, what string) []kv {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []kv
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.e.add(pos(k), "a %s must be a plain name, not %s", what, nodeKind(k))
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			l.e.add(pos(k), "YAML merge keys (<<) are not supported in flow files; write the fields out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.e.add(pos(k), "%s %q is given twice (first at line %d); remove or rename one", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, kv{k, v})
	}
	return out
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the value %q", truncate(n.Value, 40))
	}
	return "this"
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-3]) + "..."
}

func suggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "my_flow"
	}
	return b.String()
}

// scalar returns a scalar's text, reporting anything else.
func (l *loader) scalar(n *yaml.Node, what string) string {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		l.e.add(pos(n), "%s must be text, not %s", what, nodeKind(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// template compiles a string field.
func (l *loader) template(n *yaml.Node, field string, bare, allowItem bool) *Template {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		l.e.add(pos(n), "%s must be text, not %s", field, nodeKind(n))
		return literalTemplate("")
	}
	src := n.Value
	if n.Tag == "!!null" {
		src = ""
	}
	t, errs := l.comp.compileTemplate(src, field, pos(n), bare, allowItem)
	for _, e := range errs {
		l.e.add(l.posAt(n, e.off), "%s: %s", field, e.msg)
	}
	return t
}

// posAt maps a byte offset in a scalar's value to a place in the file.
func (l *loader) posAt(n *yaml.Node, off int) Pos {
	v := n.Value
	if off > len(v) {
		off = len(v)
	}
	before := v[:off]
	if n.Style&yaml.LiteralStyle != 0 {
		line := strings.Count(before, "\n")
		col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:])
		return Pos{n.Line + 1 + line, l.blockIndent(n.Line) + 1 + col}
	}
	if !strings.Contains(before, "\n") && n.Style&yaml.FoldedStyle == 0 {
		col := n.Column + utf8.RuneCountInString(before)
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
			col++
		}
		p := Pos{n.Line, col}
		if l.sourceHas(p, v[off:]) {
			return p
		}
	}
	// Folding, line breaks and escapes change offsets: look for the text.
	if p, ok := l.findInSource(n, v, off); ok {
		return p
	}
	return pos(n)
}

// sourceHas says whether the file at p starts with the first characters of
// text.
func (l *loader) sourceHas(p Pos, text string) bool {
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	if p.Line < 1 || p.Line > len(l.lines) {
		return false
	}
	line := string(l.lines[p.Line-1])
	b := 0
	for c := 1; c < p.Col && b < len(line); c++ {
		_, size := utf8.DecodeRuneInString(line[b:])
		b += size
	}
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	if len(text) > 8 {
		text = text[:8]
	}
	return strings.HasPrefix(line[b:], text)
}

// findInSource finds where the text at off of a scalar's value is in the
// file, by searching the lines the scalar spans for it.
func (l *loader) findInSource(n *yaml.Node, v string, off int) (Pos, bool) {
	token := v[off:]
	if i := strings.IndexByte(token, '\n'); i >= 0 {
		token = token[:i]
	}
	if len(token) > 24 {
		token = token[:24]
	}
	token = strings.TrimRight(token, " ")
	if token == "" || strings.ContainsAny(token, "\\'\"") {
		return Pos{}, false
	}
	skip := strings.Count(v[:off], token)
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	span := min(1+strings.Count(v, "\n")+strings.Count(v, " "), 500)
	for i := n.Line - 1; i >= 0 && i < len(l.lines) && i < n.Line-1+span; i++ {
		line := string(l.lines[i])
		from := 0
		if i == n.Line-1 {
			from = min(max(n.Column-1, 0), len(line))
		}
		for {
			j := strings.Index(line[from:], token)
			if j < 0 {
				break
			}
			if skip == 0 {
				return Pos{i + 1, utf8.RuneCountInString(line[:from+j]) + 1}, true
			}
			skip--
			from += j + len(token)
		}
	}
	return Pos{}, false
}

// blockIndent is the indentation of the first non-blank line of the block
// scalar whose indicator is on line.
func (l *loader) blockIndent(line int) int {
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	for i := line; i < len(l.lines); i++ { // l.lines[line] is the line after it
		s := l.lines[i]
		if len(bytes.TrimSpace(s)) == 0 {
			continue
		}
		return len(s) - len(bytes.TrimLeft(s, " "))
	}
	return 0
}

// yamlError reports a YAML syntax error at its line, with a hint for the
// common `: ` inside an expression.
func (l *loader) yamlError(err error) {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		l.e.add(Pos{1, 1}, "this is not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
		return
	}
	line, _ := strconv.Atoi(m[1])
	what := m[2]
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	if line < 1 || line > len(l.lines) {
		l.e.add(Pos{max(line, 1), 1}, "this is not valid YAML: %s", what)
		return
	}
	// yaml.v3 gives only the line: find the likely column in it.
	text := string(l.lines[line-1])
	col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
	switch {
	case strings.Contains(what, "mapping values are not allowed"):
		if i := strings.Index(text, "${{"); i >= 0 {
			l.e.add(Pos{line, utf8.RuneCountInString(text[:i]) + 1}, "this is not valid YAML: %s. A plain value may not contain \": \"; put the whole value in single quotes, e.g. value: '${{ {\"a\": 1} }}'", what)
			return
		}
		// The second ": " on the line is the one YAML trips over.
		if first := strings.Index(text, ": "); first >= 0 {
			if second := strings.Index(text[first+2:], ": "); second >= 0 {
				col = utf8.RuneCountInString(text[:first+2+second]) + 1
				what += "; quote a value that contains \": \""
			}
		}
	case strings.ContainsRune(text, '\t'):
		col = utf8.RuneCountInString(text[:strings.IndexByte(text, '\t')]) + 1
		what += "; indent with spaces, YAML does not allow tabs"
	case strings.Contains(what, "cannot start any token"):
		if i := strings.IndexAny(text, "@`"); i >= 0 {
			col = utf8.RuneCountInString(text[:i]) + 1
			what += "; quote a value that starts with @ or `"
		}
	case strings.Contains(what, "unexpected end of stream"):
		what += "; check that every quote and bracket is closed"
	}
	l.e.add(Pos{line, col}, "this is not valid YAML: %s", what)
}

// optionalMapping returns n when it is a mapping, nil when it is empty
// (null), and reports anything else.
func (l *loader) optionalMapping(n *yaml.Node, what string) *yaml.Node {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s, not %s", what, nodeKind(n))
		return nil
	}
	return n
}

func (l *loader) inputs(n *yaml.Node) {
	if n = l.optionalMapping(n, "inputs must be a mapping of input names to {type, default, description}"); n == nil {
		return
	}
	for _, p := range l.pairs(n, "input") {
		in := &Input{Name: p.key.Value, Pos: pos(p.key)}
		if !inputNameRE.MatchString(in.Name) {
			l.e.add(pos(p.key), "input name %q must start with a letter or _ and hold only letters, digits and _, so that inputs.%s works in expressions", in.Name, in.Name)
		}
		l.flow.Inputs = append(l.flow.Inputs, in)
		v := p.val
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			in.Type = "string"
			continue
		}
		if v.Kind != yaml.MappingNode {
			l.e.add(pos(v), "input %q must be a mapping such as {type: string, default: \"...\"}, not %s", in.Name, nodeKind(v))
			continue
		}
		fs := l.fields(v, "input field", inputFields, nil)
		if t, ok := fs["type"]; ok {
			in.Type = l.scalar(t.val, "type")
			if !slices.Contains(inputTypes, in.Type) {
				l.e.add(pos(t.val), "input %q: %s", in.Name, unknownMsg("type", in.Type, inputTypes, ""))
				in.Type = ""
			}
		}
		if d, ok := fs["description"]; ok {
			in.Description = l.scalar(d.val, "description")
		}
		if d, ok := fs["default"]; ok {
			in.HasDefault = true
			var raw any
			if err := d.val.Decode(&raw); err != nil {
				l.e.add(pos(d.val), "input %q: the default cannot be read: %v", in.Name, err)
				continue
			}
			if _, hasType := fs["type"]; !hasType {
				in.Type = inferType(raw)
			}
			if in.Type == "" || raw == nil {
				in.Default = raw
				continue
			}
			val, err := coerceTyped(in.Type, raw)
			if err != nil {
				l.e.add(pos(d.val), "input %q: the default must be %s, not %s", in.Name, typeArticle(in.Type), describeGiven(raw))
				continue
			}
			in.Default = val
		} else if _, hasType := fs["type"]; !hasType {
			in.Type = "string"
		}
	}
}

func inferType(v any) string {
	switch v.(type) {
	case int, int64:
		return "integer"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return "string"
}

func (l *loader) defaults(n *yaml.Node) {
	if n = l.optionalMapping(n, "defaults must be a mapping with model, retry or timeout"); n == nil {
		return
	}
	d := &l.flow.Defaults
	fs := l.fields(n, "defaults field", defaultsFields, nil)
	if m, ok := fs["model"]; ok {
		d.Model = l.model(m.val)
	}
	if r, ok := fs["retry"]; ok {
		d.Retry = l.retry(r.val, d.Retry)
	}
	if t, ok := fs["timeout"]; ok {
		d.Timeout = l.duration(t.val, "timeout")
	}
}

func (l *loader) model(n *yaml.Node) string {
	m := strings.TrimSpace(l.scalar(n, "model"))
	if m == "" {
		return ""
	}
	if l.opts.CheckModel != nil {
		if err := l.opts.CheckModel(m); err != nil {
			if strings.Contains(err.Error(), m) {
				l.e.add(pos(resolve(n)), "%v", err)
			} else {
				l.e.add(pos(resolve(n)), "model %q: %v", m, err)
			}
		}
	}
	return m
}

func (l *loader) retry(n *yaml.Node, base Retry) Retry {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "retry must be a mapping such as {attempts: 3, backoff: 2s}, not %s", nodeKind(n))
		return base
	}
	r := base
	fs := l.fields(n, "retry field", retryFields, nil)
	if a, ok := fs["attempts"]; ok {
		v := resolve(a.val)
		i, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || err != nil || i < 1 {
			l.e.add(pos(v), "retry attempts must be a whole number of at least 1 (1 means no retry), not %s", nodeKind(v))
		} else {
			r.Attempts = i
		}
	}
	if b, ok := fs["backoff"]; ok {
		if d := l.duration(b.val, "retry backoff"); d > 0 {
			r.Backoff = d
		}
	}
	return r
}

func (l *loader) duration(n *yaml.Node, what string) time.Duration {
	n = resolve(n)
	s := strings.TrimSpace(l.scalar(n, what))
	if n.Kind != yaml.ScalarNode {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			l.e.add(pos(n), "%s %q has no unit; write e.g. %ss or %sm", what, s, s, s)
		} else {
			l.e.add(pos(n), "%s %q is not a duration; write a number with a unit, e.g. 90s, 2m or 1h30m", what, s)
		}
		return 0
	case d <= 0:
		l.e.add(pos(n), "%s must be more than zero, not %q", what, s)
		return 0
	}
	return d
}

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
		if !stepIDRE.MatchString(p.key.Value) {
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
	return s
}

func (l *loader) stepBody(s *Step, parts *stepParts, n *yaml.Node) {
	d := l.flow.Defaults
	s.Retry, s.Timeout = d.Retry, d.Timeout
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "step %q must be a mapping with kind: and its fields, not %s", s.ID, nodeKind(n))
		return
	}
	// The kind decides which fields are allowed, so read it first.
	var kindNode *yaml.Node
	pairs := l.pairs(n, "field")
	for _, p := range pairs {
		if p.key.Value == "kind" {
			kindNode = p.val
		}
	}
	known := slices.Clone(commonFields)
	if kindNode == nil {
		l.e.add(Pos{n.Line, n.Column}, "step %q has no kind; add kind: llm, checkpoint or wait", s.ID)
	} else {
		k := l.scalar(kindNode, "kind")
		if slices.Contains(kinds, k) {
			s.Kind = Kind(k)
			known = append(known, kindFields[s.Kind]...)
		} else {
			l.e.add(pos(kindNode), "step %q: %s", s.ID, unknownMsg("kind", k, kinds, ""))
		}
	}
	if s.Kind == "" {
		// Without a kind, accept every kind's fields: the kind error is the
		// one to fix.
		for _, k := range kinds {
			known = append(known, kindFields[Kind(k)]...)
		}
	}
	fs := l.fieldsOf(pairs, "field", known, func(key string) string {
		for _, k := range kinds {
			if slices.Contains(kindFields[Kind(k)], key) {
				return fmt.Sprintf("step %q: %s is a field of %s steps, not of %s steps", s.ID, key, k, s.Kind)
			}
		}
		return fmt.Sprintf("step %q: %s", s.ID, unknownMsg("field", key, known, ""))
	})
	typos := l.typos

	field := func(name string) string { return fmt.Sprintf("step %q %s", s.ID, name) }
	tmpl := func(name string, allowItem bool) *Template {
		p, ok := fs[name]
		if !ok {
			return nil
		}
		t := l.template(p.val, field(name), false, allowItem)
		parts.other = append(parts.other, t)
		if (name == "prompt" || name == "run" || name == "question") && strings.TrimSpace(t.Source()) == "" {
			l.e.add(pos(resolve(p.val)), "step %q: %s is empty", s.ID, name)
		}
		return t
	}

	if p, ok := fs["description"]; ok {
		s.Description = l.scalar(p.val, "description")
	}
	if p, ok := fs["needs"]; ok {
		parts.needs = l.needs(s.ID, p.val)
	}
	if p, ok := fs["if"]; ok {
		before := len(l.e.list)
		if _, ok := fs["foreach"]; ok {
			l.comp.itemReason = "if decides for the whole step, before its items run"
		}
		s.If = l.template(p.val, field("if"), true, false)
		l.comp.itemReason = ""
		parts.ifT = s.If
		if len(l.e.list) == before {
			l.checkCondition(s, p.val)
		}
	}
	if p, ok := fs["retry"]; ok {
		s.Retry = l.retry(p.val, d.Retry)
	}
	if p, ok := fs["timeout"]; ok {
		s.Timeout = l.duration(p.val, "timeout")
	}
	if p, ok := fs["foreach"]; ok {
		s.Foreach = l.foreach(s, p.val)
		parts.other = append(parts.other, s.Foreach)
	}
	inForeach := s.Foreach != nil
	if p, ok := fs["output"]; ok {
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
		b := &LLMStep{Model: d.Model}
		s.LLM = b
		b.System = tmpl("system", inForeach)
		b.Prompt = tmpl("prompt", inForeach)
		if p, ok := fs["messages"]; ok {
			b.Messages = l.messages(s, p.val, parts, inForeach)
		}
		_, hasMsgs := fs["messages"]
		switch {
		case b.Prompt != nil && hasMsgs:
			l.e.add(pos(fs["messages"].key), "step %q has both prompt and messages; keep one of them", s.ID)
		case b.Prompt == nil && !hasMsgs && !typos["prompt"] && !typos["messages"]:
			l.e.add(pos(n), "llm step %q needs a prompt: (or messages:); add prompt: with what to ask the model", s.ID)
		}
		if p, ok := fs["model"]; ok {
			if m := l.model(p.val); m != "" {
				b.Model = m
			}
		}
		if p, ok := fs["temperature"]; ok {
			v := resolve(p.val)
			f, err := strconv.ParseFloat(v.Value, 64)
			if v.Kind != yaml.ScalarNode || err != nil || f < 0 || f > 2 {
				l.e.add(pos(v), "step %q: temperature must be a number from 0 to 2, not %s", s.ID, nodeKind(v))
			} else {
				b.Temperature = &f
			}
		}
		if p, ok := fs["max_tokens"]; ok {
			v := resolve(p.val)
			i, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || i < 1 {
				l.e.add(pos(v), "step %q: max_tokens must be a whole number of at least 1, not %s", s.ID, nodeKind(v))
			} else {
				b.MaxTokens = i
			}
		}
	case KindCheckpoint:
		b := &CheckpointStep{}
		s.Checkpoint = b
		b.Run = tmpl("run", inForeach)
		if p, ok := fs["value"]; ok {
			b.Value = l.value(s, p.val, inForeach)
			parts.other = append(parts.other, b.Value)
		}
		switch {
		case b.Run != nil && b.Value != nil:
			l.e.add(pos(fs["value"].key), "checkpoint step %q has both run and value; keep one of them", s.ID)
		case b.Run == nil && b.Value == nil && !typos["run"] && !typos["value"]:
			l.e.add(pos(n), "checkpoint step %q needs run: (a shell command) or value: (an expression)", s.ID)
		}
		if b.Value != nil && b.Run == nil {
			for _, f := range []string{"stdin", "env", "dir", "secrets"} {
				if p, ok := fs[f]; ok {
					l.e.add(pos(p.key), "step %q: %s only goes with run:, and this step has value:", s.ID, f)
					delete(fs, f)
				}
			}
			if s.OutputJSON {
				l.e.add(pos(fs["output"].key), "step %q: output: json only goes with run: (a value is already data)", s.ID)
			}
		}
		b.Stdin = tmpl("stdin", inForeach)
		b.Dir = tmpl("dir", inForeach)
		if p, ok := fs["env"]; ok {
			b.Env = l.env(s, p.val, parts, inForeach)
		}
		if p, ok := fs["secrets"]; ok {
			b.Secrets = l.secrets(s, p.val)
		}
	case KindWait:
		b := &WaitStep{}
		s.Wait = b
		b.Question = tmpl("question", inForeach)
		if b.Question == nil && !typos["question"] {
			l.e.add(pos(n), "wait step %q needs a question: to show the person who answers", s.ID)
			b.Question = literalTemplate("")
		}
		if p, ok := fs["schema"]; ok {
			b.Schema = l.schema(s, p.val)
		}
		if s.OutputJSON {
			l.e.add(pos(fs["output"].key), "step %q: output: json only goes with llm steps and run: steps (an answer is already JSON)", s.ID)
		}
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
		case !l.comp.steps[name]:
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
	t := l.template(n, fmt.Sprintf("step %q foreach", s.ID), true, false)
	l.comp.itemReason = ""
	if len(l.e.list) > before || !t.whole {
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
		l.e.add(pos(resolve(n)), "step %q: if needs true or false, but ${{ %s }} gives a %s", s.ID, strings.TrimSpace(c.src), kindWord(node.Type()))
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
	field := fmt.Sprintf("step %q value", s.ID)
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
		if r, ok := fs["role"]; ok {
			msg.Role = l.scalar(r.val, "role")
			if !slices.Contains(messageRoles, msg.Role) {
				l.e.add(pos(r.val), "step %q: message %d: %s", s.ID, i+1, unknownMsg("role", msg.Role, messageRoles, ""))
			}
		} else {
			l.e.add(pos(m), "step %q: message %d has no role; add role: system, user or assistant", s.ID, i+1)
		}
		if c, ok := fs["content"]; ok {
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
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "step %q: env must be a mapping of NAME: value, not %s", s.ID, nodeKind(n))
		return nil
	}
	var out []EnvVar
	for _, p := range l.pairs(n, "environment variable") {
		if !envNameRE.MatchString(p.key.Value) {
			l.e.add(pos(p.key), "step %q: %q is not a valid environment variable name (letters, digits and _, not starting with a digit)", s.ID, p.key.Value)
		}
		t := l.template(p.val, fmt.Sprintf("step %q env %s", s.ID, p.key.Value), false, inForeach)
		parts.other = append(parts.other, t)
		out = append(out, EnvVar{Name: p.key.Value, Value: t})
	}
	return out
}

func (l *loader) secrets(s *Step, n *yaml.Node) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		l.e.add(pos(n), "step %q: secrets must be a list of secret names, e.g. secrets: [webhook], not %s", s.ID, nodeKind(n))
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
			l.e.add(pos(it), "step %q: secret %q is listed twice", s.ID, name)
			continue
		}
		out = append(out, name)
	}
	return out
}

// schema reads a wait step's JSON Schema and checks that it is one.
func (l *loader) schema(s *Step, n *yaml.Node) map[string]any {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "step %q: schema must be a JSON Schema mapping such as {type: boolean}, not %s", s.ID, nodeKind(n))
		return nil
	}
	var v map[string]any
	if err := n.Decode(&v); err != nil {
		l.e.add(pos(n), "step %q: the schema cannot be read: %v", s.ID, err)
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		l.e.add(pos(n), "step %q: the schema cannot be turned into JSON: %v", s.ID, err)
		return nil
	}
	if _, err := CompileSchema(raw); err != nil {
		loc, msg := schemaProblem(err)
		l.e.add(pos(nodeAt(n, loc)), "step %q: schema is not a valid JSON Schema: %s", s.ID, msg)
		return nil
	}
	// Keep the JSON form so callers see JSON types (float64 numbers).
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// CompileSchema compiles a JSON Schema document (a wait step's answer
// schema). References to other documents are refused: flows are
// self-contained.
func CompileSchema(doc []byte) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource("kitaru:answer.json", v); err != nil {
		return nil, err
	}
	sch, err := c.Compile("kitaru:answer.json")
	if err != nil {
		return nil, err
	}
	return sch, nil
}

// schemaProblem finds the first specific reason a schema is invalid and
// where in the schema it is.
func schemaProblem(err error) ([]string, string) {
	var sve *jsonschema.SchemaValidationError
	if !errors.As(err, &sve) {
		return nil, oneLine(err.Error())
	}
	var ve *jsonschema.ValidationError
	if !errors.As(sve.Err, &ve) {
		return nil, oneLine(sve.Err.Error())
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	text := strings.TrimSpace(ve.Error())
	if i := strings.LastIndex(text, "\n"); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimPrefix(strings.TrimSpace(text), "- ")
	return ve.InstanceLocation, text
}

// nodeAt follows a JSON pointer's segments into a YAML node, as far as
// they go.
func nodeAt(n *yaml.Node, path []string) *yaml.Node {
	for _, seg := range path {
		n = resolve(n)
		next := (*yaml.Node)(nil)
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return resolve(n)
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not refer to other documents (%s)", url)
}

func oneLine(s string) string {
	f := strings.Fields(s)
	return strings.Join(f, " ")
}

// resolveDeps sets a step's dependencies from needs and its expressions.
func (l *loader) resolveDeps(s *Step, p *stepParts) {
	referenced := map[string]bool{}
	inIf := map[string]bool{}
	inputs := map[string]bool{}
	for _, t := range p.other {
		for _, id := range t.Refs().Steps {
			referenced[id] = true
		}
		for _, in := range t.Refs().Inputs {
			inputs[in] = true
		}
	}
	if p.ifT != nil {
		for _, id := range p.ifT.Refs().Steps {
			inIf[id] = true
		}
		for _, in := range p.ifT.Refs().Inputs {
			inputs[in] = true
		}
	}
	needs := map[string]bool{}
	for _, id := range p.needs {
		needs[id] = true
	}
	all := map[string]bool{}
	for _, m := range []map[string]bool{needs, referenced, inIf} {
		for id := range m {
			all[id] = true
		}
	}
	for id := range all {
		s.Deps = append(s.Deps, id)
		if inIf[id] && !needs[id] && !referenced[id] {
			if s.IfOnlyDeps == nil {
				s.IfOnlyDeps = map[string]bool{}
			}
			s.IfOnlyDeps[id] = true
		}
	}
	// File order, not map order.
	slices.SortFunc(s.Deps, func(a, b string) int { return l.comp.index[a] - l.comp.index[b] })
	s.InputRefs = sortedKeys(inputs)
}
