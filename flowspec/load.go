package flowspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kitaruhq/kitaru/internal/bytesize"
	"github.com/kitaruhq/kitaru/internal/textcut"
)

// Built-in defaults for what neither a step nor the flow's defaults set.
const (
	DefaultAttempts = 1
	DefaultBackoff  = time.Second
)

var (
	flowNameRE  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	inputNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRE  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

var (
	topFields      = []string{"name", "description", "inputs", "defaults", "budget", "tools", "mcp", "steps", "output"}
	inputFields    = []string{"type", "description", "default"}
	inputTypes     = []string{"string", "integer", "number", "boolean", "list", "object"}
	defaultsFields = []string{"model", "retry", "timeout", "max_output", "cache"}
	retryFields    = []string{"attempts", "backoff"}
	kinds          = []string{string(KindLLM), string(KindCheckpoint), string(KindWait), string(KindFlow)}
	commonFields   = []string{"kind", "description", "needs", "if", "continue_on_error", "retry", "timeout", "foreach", "output"}
	kindFields     = map[Kind][]string{
		KindLLM:        {"prompt", "messages", "system", "model", "temperature", "max_tokens", "schema", "schema_retries", "tools", "max_turns", "cache"},
		KindCheckpoint: {"run", "stdin", "env", "dir", "secrets", "max_output", "value"},
		KindWait:       {"question", "schema"},
		KindFlow:       {"flow", "inputs"},
	}
	messageRoles = []string{"system", "user", "assistant"}
)

// MaxFileSize is the largest flow file kitaru reads: about six times a
// generated flow of 10,000 steps. Larger text belongs in files that steps
// read, and refusing early keeps a wrong path (a device, a log) from
// filling memory.
const MaxFileSize = 8 << 20

// MaxStepIDLength bounds a step id: it names the step's directory in a run,
// and file names are at most 255 bytes.
const MaxStepIDLength = 128

// Load reads and compiles the flow file at path. Problems in the file are
// returned together as a *ErrorList.
func Load(path string, opts Options) (*Flow, error) {
	data, err := readFlowFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data, opts)
	if err != nil {
		return nil, err
	}
	f.Dir = fileDir(path)
	return f, nil
}

// StdinName is how errors name a flow read from standard input.
const StdinName = "<stdin>"

// Read compiles a flow read from r, at most MaxFileSize of it; name names
// it in errors. It has no file of its own, so Dir is "": its steps run
// where the engine is told (the current directory).
func Read(name string, r io.Reader, opts Options) (*Flow, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the flow from %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(name, -1)
	}
	return Parse(name, data, opts)
}

// fileDir is the absolute directory of the flow file at path (of the file
// a link at path leads to), where its steps run; "" when the flow comes
// from no file of its own: stdin, a pipe or process substitution
// (/dev/stdin, /dev/fd/63), a device.
func fileDir(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if slash := filepath.ToSlash(abs); strings.HasPrefix(slash, "/dev/") || strings.HasPrefix(slash, "/proc/") {
		// /dev/stdin redirected from a file is that file, but the path
		// names no directory of the user's.
		return ""
	}
	if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	// A link to a flow file runs where the file is, beside the scripts,
	// data and dir: paths it names: "the directory of the flow file". The
	// path is made physical only then, so a flow reached through a
	// linked directory keeps the directory as the user wrote it.
	if lst, err := os.Lstat(abs); err == nil && lst.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			return filepath.Dir(real)
		}
	}
	return filepath.Dir(abs)
}

// readFlowFile reads a flow file of at most MaxFileSize.
func readFlowFile(path string) ([]byte, error) {
	data, size, err := readAtMost(path, MaxFileSize)
	if errors.Is(err, errTooLarge) {
		return nil, tooLarge(path, size)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the flow file: %w", err)
	}
	return data, nil
}

var errTooLarge = errors.New("too large")

// readAtMost reads the file at path when it holds at most limit bytes. It
// reads one byte more at most, so that a device such as /dev/zero or a
// pipe that never ends is refused quickly; past the limit it returns
// errTooLarge and the file's size (-1 when only that much could be read).
func readAtMost(path string, limit int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, st.Size(), errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(data)) > limit {
		return nil, -1, errTooLarge
	}
	return data, int64(len(data)), nil
}

// tooLarge is the error for a flow file over MaxFileSize; size is -1 when
// only that much could be read.
func tooLarge(file string, size int64) error {
	what := fmt.Sprintf("the file is %s (%d bytes)", bytesize.Format(size), size)
	if size < 0 {
		what = fmt.Sprintf("more than %s can be read from it", bytesize.Format(MaxFileSize))
	}
	return &ErrorList{{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf(
		"%s; a flow file may be at most %s (%d bytes): keep long text in files that a step reads, or check that this is the flow file you meant", what, bytesize.Format(MaxFileSize), MaxFileSize)}}
}

// Parse compiles a flow from data; file names it in error messages.
func Parse(file string, data []byte, opts Options) (f *Flow, err error) {
	if len(data) > MaxFileSize {
		return nil, tooLarge(file, int64(len(data)))
	}
	// yaml.v3 reports bad bytes without a place (as 1:1): find them first.
	if opts.sub.chain == nil {
		opts.sub = rootSub(file)
	}
	p, msg, bad, plain := scanText(data)
	if bad {
		return nil, &ErrorList{{File: file, Pos: p, Msg: msg}}
	}
	l := &loader{e: errs{file: file}, opts: opts, data: data, plain: plain}
	defer func() {
		// A panic here is a bug, but the user still gets a sentence.
		if r := recover(); r != nil {
			f = nil
			err = &ErrorList{{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("internal error while loading the flow (please report it): %v", r)}}
		}
	}()
	f = l.load()
	if l.slow {
		// A step body the quick reader left for later did not read: start
		// again, reading the file with yaml.v3.
		l = &loader{e: errs{file: file}, opts: opts, data: data, plain: plain, slow: true}
		f = l.load()
	}
	if err := l.e.err(); err != nil {
		return nil, err
	}
	return f, nil
}

type loader struct {
	e     errs
	opts  Options
	data  []byte
	plain bool // data is ASCII without tabs or carriage returns (scanText)
	// block is the quick reader of a lazy load, which left the steps'
	// bodies for it to read one at a time (see parseBlock); when one
	// cannot be read so, slow is set and the file is read with yaml.v3.
	block *blockParser
	slow  bool
	lines [][]byte
	comp  *compiler
	flow  *Flow
	// typos are the known names the last fields call suggested for unknown
	// keys: a missing field that was only misspelt is not reported twice.
	typos map[string]bool
	// stepFS holds the fields of the step being read; steps are read one
	// after the other, so one array serves them all.
	stepFS fieldSet
	// errReads are the steps.X.error reads of the flow, checked once
	// every step is known (checkErrorReads).
	errReads []errorRead
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
	if block, ok := l.blockYAML(); ok {
		doc = *block
	} else if hasDocumentMarker(l.data) {
		// Only a document marker (at the start of a line) can start a
		// second document: read the stream to find one.
		dec := yaml.NewDecoder(bytes.NewReader(l.data))
		if err := dec.Decode(&doc); err != nil && err != io.EOF {
			l.yamlError(err)
			return nil
		}
		var next yaml.Node
		if err := dec.Decode(&next); err == nil {
			l.e.add(Pos{next.Line, next.Column}, "a flow file holds one YAML document; this is a second one (after ---): put it in its own file")
		}
	} else if err := yaml.Unmarshal(l.data, &doc); err != nil {
		l.yamlError(err)
		return nil
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
	f := &Flow{File: l.e.file, Source: l.data}
	l.flow = f
	fields := l.fields(root, "top-level field", topFields, nil)
	topTypos := l.typos

	if n, ok := fields.get("name"); ok {
		f.Name = l.scalar(n.val, "name")
		if f.Name != "" && !flowNameRE.MatchString(f.Name) {
			l.e.add(pos(n.val), "name %q may only contain lowercase letters, digits, _ and -; e.g. %s", textcut.Runes(f.Name, 40), suggestName(textcut.Runes(f.Name, 40)))
		}
	}
	if f.Name == "" && !topTypos["name"] {
		if _, ok := fields.get("name"); ok {
			l.e.add(pos(fields.field("name").val), "name is empty; give the flow a name such as my_flow")
		} else {
			l.e.add(pos(root), "the flow has no name; add a line such as name: my_flow")
		}
	}
	if n, ok := fields.get("description"); ok {
		f.Description = l.scalar(n.val, "description")
	}
	if n, ok := fields.get("inputs"); ok {
		l.inputs(n.val)
	}
	f.Defaults = Defaults{Retry: Retry{Attempts: DefaultAttempts, Backoff: DefaultBackoff}}
	if n, ok := fields.get("defaults"); ok {
		l.defaults(n.val)
	}
	if n, ok := fields.get("budget"); ok {
		f.Budget = l.budget(n.val)
	}
	stepsNode := (*yaml.Node)(nil)
	if n, ok := fields.get("steps"); ok {
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
	// A lazy load is of a run's snapshot, checked when the run started.
	l.comp.typed = !l.opts.Lazy
	f.byID = make(map[string]*Step, len(stepKVs))
	if n, ok := fields.get("tools"); ok {
		l.tools(n.val)
	}
	if n, ok := fields.get("mcp"); ok {
		l.mcp(n.val)
	}
	for _, s := range stepKVs {
		val := s.val
		if l.block.isDeferred(val) {
			var ok bool
			if val, ok = l.block.body(val); !ok {
				l.slow = true
				return nil
			}
		}
		st := l.step(s.key, val)
		f.Steps = append(f.Steps, st)
		f.byID[st.ID] = st
	}
	if n, ok := fields.get("output"); ok {
		f.Output = l.template(n.val, "output", false, false)
		l.noteReads(nil, f.Output)
	}
	l.checkErrorReads()
	l.graph()
	return f
}

// blockYAML reads a lazy load's YAML with the quick block reader, which
// gives up on anything outside the plain block style; a full load always
// reads it with yaml.v3.
func (l *loader) blockYAML() (*yaml.Node, bool) {
	if !l.opts.Lazy || l.slow {
		return nil, false
	}
	doc, p, ok := parseBlock(l.data, l.plain, true)
	l.block = p
	return doc, ok
}

// fields reads a mapping's keys, reporting duplicates and unknown keys.
// other, when set, explains a key known elsewhere (e.g. a field of another
// step kind); it returns "" for keys it does not know either.
func (l *loader) fields(n *yaml.Node, what string, known []string, other func(key string) string) fieldSet {
	return l.fieldsOf(nil, l.pairs(n, what), what, known, other)
}

// fieldSet is the known fields of a mapping. Mappings hold a handful of
// fields, so a look through them beats a map (a long flow reads a dozen
// fields of each step).
type fieldSet []kv

// get returns the field named name.
func (fs fieldSet) get(name string) (kv, bool) {
	for _, p := range fs {
		if p.key != nil && p.key.Value == name {
			return p, true
		}
	}
	return kv{}, false
}

// has says whether the field named name is there.
func (fs fieldSet) has(name string) bool {
	_, ok := fs.get(name)
	return ok
}

// field returns the field named name, which the caller knows is there.
func (fs fieldSet) field(name string) kv {
	p, _ := fs.get(name)
	return p
}

// drop forgets the field named name, in every copy of fs.
func (fs fieldSet) drop(name string) {
	for i, p := range fs {
		if p.key != nil && p.key.Value == name {
			fs[i] = kv{}
		}
	}
}

// fieldsOf is fields over pairs already read, into out's array (emptied)
// when there is room.
func (l *loader) fieldsOf(out fieldSet, pairs []kv, what string, known []string, other func(key string) string) fieldSet {
	out = out[:0]
	l.typos = nil
	for _, p := range pairs {
		k := p.key.Value
		if !slices.Contains(known, k) {
			if s := suggest(k, known); s != "" {
				if l.typos == nil {
					l.typos = map[string]bool{}
				}
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
		out = append(out, p)
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
	// Most mappings are small: look for duplicates in what was read so
	// far, and use a map only for long ones (a flow's steps).
	var seen map[string]*yaml.Node
	if len(n.Content) > 32 {
		seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	out := make([]kv, 0, len(n.Content)/2)
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
		if first := firstKey(seen, out, k.Value); first != nil {
			l.e.add(pos(k), "%s %q is given twice (first at line %d); remove or rename one", what, k.Value, first.Line)
			continue
		}
		if seen != nil {
			seen[k.Value] = k
		}
		out = append(out, kv{k, v})
	}
	return out
}

// firstKey returns the key named name read before, if any.
func firstKey(seen map[string]*yaml.Node, read []kv, name string) *yaml.Node {
	if seen != nil {
		return seen[name]
	}
	for _, p := range read {
		if p.key.Value == name {
			return p.key
		}
	}
	return nil
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
		return fmt.Sprintf("the value %q", textcut.Runes(n.Value, 40))
	}
	return "this"
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
	if bare && strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		// if: !failure() reads, in YAML, as the tag !failure() on nothing.
		whole := strings.TrimSpace(n.Tag + " " + src)
		l.e.add(pos(n), "%s: YAML reads %s as a tag, not as part of the expression; quote the expression, e.g. %q", field, n.Tag, whole)
		return literalTemplate("")
	}
	var t *Template
	var errs []exprError
	if l.opts.Lazy {
		t, errs = l.lazyTemplate(n, src, field, bare, allowItem)
	} else {
		t, errs = l.comp.compileTemplate(src, field, pos(n), bare, allowItem)
	}
	for _, e := range errs {
		l.e.add(l.posAt(n, e.off), "%s: %s", field, e.msg)
	}
	return t
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
			l.e.add(pos(p.key), "input name %q must start with a letter or _ and hold only letters, digits and _, so that inputs.%s works in expressions", textcut.Runes(in.Name, 40), textcut.Runes(in.Name, 40))
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
		if t, ok := fs.get("type"); ok {
			in.Type = l.scalar(t.val, "type")
			if !slices.Contains(inputTypes, in.Type) {
				l.e.add(pos(t.val), "input %q: %s", in.Name, unknownMsg("type", in.Type, inputTypes, ""))
				in.Type = ""
			}
		}
		if d, ok := fs.get("description"); ok {
			in.Description = l.scalar(d.val, "description")
		}
		if d, ok := fs.get("default"); ok {
			in.HasDefault = true
			var raw any
			if err := d.val.Decode(&raw); err != nil {
				l.e.add(pos(d.val), "input %q: the default cannot be read: %v", in.Name, err)
				continue
			}
			if _, hasType := fs.get("type"); !hasType {
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
		} else if _, hasType := fs.get("type"); !hasType {
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
	if n = l.optionalMapping(n, "defaults must be a mapping with model, retry, timeout, max_output or cache"); n == nil {
		return
	}
	d := &l.flow.Defaults
	fs := l.fields(n, "defaults field", defaultsFields, func(key string) string {
		if key == "continue_on_error" {
			// A blanket one would hide every failure of the flow.
			return "continue_on_error is set on each step that may fail without failing the run, not in defaults"
		}
		return ""
	})
	if m, ok := fs.get("model"); ok {
		d.Model, d.Fallbacks = l.models(m.val)
	}
	if r, ok := fs.get("retry"); ok {
		d.Retry = l.retry(r.val, d.Retry)
	}
	if t, ok := fs.get("timeout"); ok {
		d.Timeout = l.duration(t.val, "timeout")
	}
	if m, ok := fs.get("max_output"); ok {
		d.MaxOutput = l.maxOutput(m.val, "defaults ")
	}
	if c, ok := fs.get("cache"); ok {
		d.Cache = l.cacheOf(c.val, "defaults cache")
	}
}

func (l *loader) model(n *yaml.Node) string {
	m := strings.TrimSpace(l.scalar(n, "model"))
	if m == "" {
		return ""
	}
	l.flow.Uses = append(l.flow.Uses, Use{UseModel, m, pos(resolve(n))})
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
	if a, ok := fs.get("attempts"); ok {
		v := resolve(a.val)
		i, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || err != nil || i < 1 {
			l.e.add(pos(v), "retry attempts must be a whole number of at least 1 (1 means no retry), not %s", nodeKind(v))
		} else {
			r.Attempts = i
		}
	}
	if b, ok := fs.get("backoff"); ok {
		if d := l.duration(b.val, "retry backoff"); d > 0 {
			r.Backoff = d
		}
	}
	return r
}

// durationShape is how a Go duration is written: numbers, each with a unit.
var durationShape = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$`)

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
		} else if durationShape.MatchString(s) {
			// Written as a duration, but past what one can hold.
			l.e.add(pos(n), "%s %q is too long; the longest is 2562047h (about 292 years)", what, s)
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
