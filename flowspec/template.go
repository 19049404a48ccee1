package flowspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Template is a string holding zero or more ${{ expr }} placeholders, with
// every expression compiled at load time. A string without placeholders is a
// Template too, so callers need not nil-check required fields.
type Template struct {
	src   string
	pos   Pos
	field string // what the template is, for error messages: `step "a" prompt`
	parts []part
	// whole: the template is exactly one expression and keeps its type.
	whole bool
	// constant, when set, is the value of a template written as a YAML
	// number, boolean or literal map rather than a string.
	constant    any
	hasConstant bool
	refs        Refs
	// lazy, when set, compiles the template on its first use (Options.Lazy).
	lazy *lazyCompile
	// shell is the form sh receives, for a run: command (see Shell).
	shell *shellForm
	// errReads are the steps whose error its expressions read (a full
	// load only), for checkErrorReads.
	errReads []string
	// failedCmps are the steps whose status it compares with "failed".
	failedCmps []string
}

// part is literal text or one compiled expression.
type part struct {
	text string
	expr *compiledExpr
}

type compiledExpr struct {
	src  string
	prog *vm.Program
	// sized: the result may be a list or map the program built, whose
	// text must be measured (see scopeRead).
	sized bool
}

// Refs are the names a template's expressions read.
type Refs struct {
	Inputs []string // flow inputs, sorted, unique
	Steps  []string // step ids, sorted, unique
	Item   bool     // reads item or index
	Index  bool     // reads index (so an item's position matters)
}

// evalEnv is the environment expressions are compiled against and run with.
// A struct (not a map) so that unknown top-level names are compile errors and
// building it per evaluation costs one allocation.
type evalEnv struct {
	Inputs map[string]any       `expr:"inputs"`
	Steps  map[string]StepState `expr:"steps"`
	Run    runEnv               `expr:"run"`
	Flow   flowEnv              `expr:"flow"`
	Item   any                  `expr:"item"`
	Index  int                  `expr:"index"`
	Args   any                  `expr:"args"` // inside a tool
	// The status functions of an `if` (see Scope.Failed); elsewhere they
	// are validation errors.
	Success func() bool `expr:"success"`
	Failure func() bool `expr:"failure"`
	Always  func() bool `expr:"always"`
}

// Package-level, so an evaluation allocates no closure for them.
var (
	yes = func() bool { return true }
	no  = func() bool { return false }
)

// statusFuncs are the functions only an `if` may call.
var statusFuncs = []string{"success", "failure", "always"}

type runEnv struct {
	ID string `expr:"id"`
}

type flowEnv struct {
	Name string `expr:"name"`
}

var noFieldRE = regexp.MustCompile(`^type flowspec\.(StepState|runEnv|flowEnv) has no field (\S+)`)

var envNames = []string{"inputs", "steps", "run", "flow", "item", "index", "args"}

// Source returns the template as written in the flow file.
func (t *Template) Source() string {
	if t == nil {
		return ""
	}
	return t.src
}

// Pos returns where the template starts in the flow file.
func (t *Template) Pos() Pos {
	if t == nil {
		return Pos{}
	}
	return t.pos
}

// Refs returns the inputs and steps the template's expressions read.
func (t *Template) Refs() Refs {
	if t == nil {
		return Refs{}
	}
	return t.refs
}

// IsLiteral says whether the template has no expression at all.
func (t *Template) IsLiteral() bool {
	if t == nil {
		return true
	}
	if t.lazy != nil {
		return false // lazy templates always hold an expression
	}
	for _, p := range t.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

// vmPool reuses expression VMs: a VM's stack is the main per-run allocation.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

func (t *Template) env(s *Scope) *evalEnv {
	if s == nil {
		return &evalEnv{Success: yes, Failure: no, Always: yes}
	}
	success, failure := yes, no
	if s.Failed {
		success, failure = no, yes
	}
	return &evalEnv{
		Success: success, Failure: failure, Always: yes,
		Inputs: s.Inputs,
		Steps:  s.Steps,
		Run:    runEnv{ID: s.RunID},
		Flow:   flowEnv{Name: s.FlowName},
		Item:   s.Item,
		Index:  s.Index,
		Args:   s.Args,
	}
}

func (t *Template) run(c *compiledExpr, env *evalEnv) (any, error) {
	m := vmPool.Get().(*vm.VM)
	m.MemoryBudget = exprBudget
	out, err := m.Run(c.prog, *env)
	vmPool.Put(m)
	if err != nil {
		if isOverBudget(err) {
			return nil, t.memoryError(c.src)
		}
		msg := strings.Replace(firstLine(err.Error()), "runtime error: integer divide by zero", "the right side of % is 0", 1)
		return nil, fmt.Errorf("%s: evaluating ${{ %s }} failed: %s", t.field, shortExpr(c.src), msg)
	}
	if c.sized && overLimit(out) {
		return nil, t.memoryError(c.src)
	}
	return out, nil
}

// Eval evaluates the template. A template that is exactly one expression
// keeps the expression's type; otherwise the result is the rendered string.
func (t *Template) Eval(s *Scope) (any, error) {
	if t == nil {
		return nil, nil
	}
	if t.hasConstant {
		return t.constant, nil
	}
	if err := t.compiled(); err != nil {
		return nil, err
	}
	if t.whole && len(t.parts) == 1 && t.parts[0].expr != nil {
		return t.run(t.parts[0].expr, t.env(s))
	}
	return t.Render(s)
}

// Render evaluates the template to text: strings raw, maps and lists as
// JSON, integral numbers without a fraction, nil as nothing.
func (t *Template) Render(s *Scope) (string, error) {
	if t == nil {
		return "", nil
	}
	if t.hasConstant {
		return FormatValue(t.constant), nil
	}
	if err := t.compiled(); err != nil {
		return "", err
	}
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].text, nil
	}
	env := t.env(s)
	// Every part first, then one allocation of the known length: the
	// length is checked before the text is joined.
	var buf [8]string
	texts := buf[:0]
	n := 0
	for _, p := range t.parts {
		text := p.text
		if p.expr != nil {
			v, err := t.run(p.expr, env)
			if err != nil {
				return "", err
			}
			text = FormatValue(v)
			if n+len(text) > ExprMemoryLimit {
				return "", t.memoryError(p.expr.src)
			}
		}
		n += len(text)
		texts = append(texts, text)
	}
	var b strings.Builder
	b.Grow(n)
	for _, text := range texts {
		b.WriteString(text)
	}
	return b.String(), nil
}

// Bool evaluates the template as a condition: it must give true or false
// (nil counts as false). A nil template, a step without if, is true.
func (t *Template) Bool(s *Scope) (bool, error) {
	if t == nil {
		return true, nil
	}
	v, err := t.Eval(s)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, fmt.Errorf("%s: %s gave %s, not true or false; compare it, e.g. %s == \"yes\"", t.field, describeSource(t), describeValue(v), strings.TrimSpace(t.exprSource()))
}

func (t *Template) exprSource() string {
	if t.whole {
		return t.parts[0].expr.src
	}
	return t.src
}

func describeSource(t *Template) string {
	if t.whole {
		return "${{ " + strings.TrimSpace(t.parts[0].expr.src) + " }}"
	}
	return strconv.Quote(t.src)
}

func describeValue(v any) string {
	s := FormatValue(v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return fmt.Sprintf("%s %q", typeName(v), s)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "the string"
	case bool:
		return "the boolean"
	case int, int64, int32, uint, uint64, float64, float32:
		return "the number"
	case []any:
		return "the list"
	case map[string]any:
		return "the map"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return "the list"
	case reflect.Map:
		return "the map"
	}
	return "the value"
}

// FormatValue formats a value into text the way templates do.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case json.Number:
		return x.String()
	case []byte:
		return string(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// placeholder is one ${{ … }} found in a string: the byte offsets of the
// expression text inside it.
type placeholder struct {
	start, end int // of the whole ${{ … }}
	exprStart  int
	exprEnd    int
}

// scanPlaceholders finds every ${{ … }} in s. A `}}` inside a quoted string
// or closing a map literal does not end the placeholder. An unclosed one is
// an error carrying its offset.
func scanPlaceholders(s string) ([]placeholder, int, error) {
	var out []placeholder
	i := 0
	for {
		j := strings.Index(s[i:], "${{")
		if j < 0 {
			return out, 0, nil
		}
		start := i + j
		k := start + 3
		depth := 0
		var quote byte
		closed := false
		for k < len(s) {
			c := s[k]
			if quote != 0 {
				if c == '\\' && quote != '`' {
					k += 2
					continue
				}
				if c == quote {
					quote = 0
				}
				k++
				continue
			}
			switch c {
			case '"', '\'', '`':
				quote = c
			case '{':
				depth++
			case '}':
				if depth > 0 {
					depth--
				} else if k+1 < len(s) && s[k+1] == '}' {
					out = append(out, placeholder{start: start, end: k + 2, exprStart: start + 3, exprEnd: k})
					closed = true
				}
			}
			if closed {
				break
			}
			k++
		}
		if !closed {
			if quote != 0 {
				return out, start, fmt.Errorf("a quoted string inside ${{ is not closed")
			}
			return out, start, fmt.Errorf("${{ is not closed; end the expression with }}")
		}
		i = out[len(out)-1].end
	}
}

// exprError is a compile problem inside a template, at a byte offset of the
// template's source.
type exprError struct {
	off int
	msg string
}

// compiler compiles a flow's expressions; it knows the names expressions
// may read.
type compiler struct {
	inputs map[string]*Input
	index  map[string]int // the steps, and their file order
	config *conf.Config
	cache  map[exprKey]*exprResult
	// refCache and mu serve lazy loads: references found by parsing alone,
	// and templates compiled after the load, from any goroutine.
	refCache map[string]Refs
	mu       sync.Mutex
	// itemReason, when set, says why item and index are not defined in the
	// field being compiled (the step has foreach, but not for this field).
	itemReason string
	// inTool: a tool's field is being compiled, where args is defined and
	// steps, item and index are not.
	inTool bool
	// toolArgs, inside a tool whose parameters name every property its
	// arguments may have, are those names: args.X naming another is a typo.
	toolArgs *toolArgs
	// inIf: a step's `if` is being compiled, where the status functions
	// (success(), failure(), always()) are defined.
	inIf    bool
	stepIDs []string
	inNames []string
	// typed: check expressions against the inputs' declared types too
	// (inputtypes.go); typedConfig is that check's configuration.
	typed       bool
	typedConfig *conf.Config
}

// hasStep says whether the flow has a step id.
func (c *compiler) hasStep(id string) bool {
	_, ok := c.index[id]
	return ok
}

func newCompiler(inputs []*Input, stepIDs []string) *compiler {
	c := &compiler{inputs: map[string]*Input{}, stepIDs: stepIDs}
	for _, in := range inputs {
		c.inputs[in.Name] = in
		c.inNames = append(c.inNames, in.Name)
	}
	c.index = make(map[string]int, len(stepIDs))
	for i, id := range stepIDs {
		c.index[id] = i
	}
	return c
}

// refCollector walks an expression before type checking, collecting the
// inputs and steps it reads and the references to names that do not exist.
type refCollector struct {
	c         *compiler
	allowItem bool
	inputs    map[string]bool
	steps     map[string]bool
	item      bool
	index     bool
	errs      []exprError
	// errReads are the steps whose error the expression reads.
	errReads map[string]bool
	// failedCmps are the steps whose status it compares with "failed".
	failedCmps map[string]bool
	// the expression source, to turn node locations into offsets.
	src string
}

func (r *refCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if msg := r.c.toolName(n.Value); msg != "" {
			r.errs = append(r.errs, exprError{r.off(n), msg})
			return
		}
		if (n.Value == "item" || n.Value == "index") && !r.allowItem {
			msg := fmt.Sprintf("%s is only defined in a step with foreach", n.Value)
			if r.c.itemReason != "" {
				msg = fmt.Sprintf("%s is not defined here: %s", n.Value, r.c.itemReason)
			}
			r.errs = append(r.errs, exprError{r.off(n), msg})
		}
		if n.Value == "item" || n.Value == "index" {
			r.item = true
			r.index = r.index || n.Value == "index"
		}
	case *ast.BinaryNode:
		r.failedCmp(n)
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			r.errorRead(n)
			return
		}
		if r.c.inTool && id.Value == "steps" {
			return // reported at the identifier
		}
		prop, isStr := n.Property.(*ast.StringNode)
		switch id.Value {
		case "args":
			if ta := r.c.toolArgs; ta != nil && isStr && !slices.Contains(ta.names, prop.Value) {
				r.errs = append(r.errs, exprError{r.off(n.Property), ta.unknown(prop.Value)})
			}
		case "inputs":
			if !isStr {
				r.errs = append(r.errs, exprError{r.off(n), "name the input literally, e.g. inputs.topic"})
				return
			}
			if _, ok := r.c.inputs[prop.Value]; !ok {
				r.errs = append(r.errs, exprError{r.off(n.Property), unknownMsg("input", prop.Value, r.c.inNames, "the flow declares no inputs")})
				return
			}
			r.inputs[prop.Value] = true
		case "steps":
			if !isStr {
				r.errs = append(r.errs, exprError{r.off(n), "name the step literally, e.g. steps.outline.output"})
				return
			}
			if !r.c.hasStep(prop.Value) {
				msg := unknownMsg("step", prop.Value, r.c.stepIDs, "")
				for _, id := range r.c.stepIDs {
					// steps.my-step.output reads as steps.my minus step.output.
					if strings.HasPrefix(id, prop.Value+"-") && strings.Contains(r.src, "steps."+id) {
						msg = fmt.Sprintf("unknown step %q; a step id with - is written steps[%q].output", prop.Value, id)
						break
					}
				}
				r.errs = append(r.errs, exprError{r.off(n.Property), msg})
				return
			}
			r.steps[prop.Value] = true
		}
	}
}

// errorRead notes steps.X.error, the read validation checks (see
// checkErrorReads).
func (r *refCollector) errorRead(n *ast.MemberNode) {
	id := stepMember(n, "error")
	if id == "" || !r.c.hasStep(id) {
		return
	}
	if r.errReads == nil {
		r.errReads = map[string]bool{}
	}
	r.errReads[id] = true
}

// failedCmp notes steps.X.status == "failed" (or !=), which validation
// checks as it checks steps.X.error (see checkErrorReads).
func (r *refCollector) failedCmp(n *ast.BinaryNode) {
	if n.Operator != "==" && n.Operator != "!=" {
		return
	}
	for _, side := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
		lit, ok := side[1].(*ast.StringNode)
		if !ok || lit.Value != "failed" {
			continue
		}
		if id := stepMember(side[0], "status"); id != "" && r.c.hasStep(id) {
			if r.failedCmps == nil {
				r.failedCmps = map[string]bool{}
			}
			r.failedCmps[id] = true
		}
	}
}

// stepMember is X when n is steps.X.<field>, "" otherwise.
func stepMember(n ast.Node, field string) string {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return ""
	}
	if p, ok := m.Property.(*ast.StringNode); !ok || p.Value != field {
		return ""
	}
	inner, ok := m.Node.(*ast.MemberNode)
	if !ok {
		return ""
	}
	id, ok := inner.Node.(*ast.IdentifierNode)
	step, isStr := inner.Property.(*ast.StringNode)
	if !ok || !isStr || id.Value != "steps" {
		return ""
	}
	return step.Value
}

// toolName says why name cannot be read where the compiler is ("" : it
// can): args only inside a tool; steps, item and index never there.
func (c *compiler) toolName(name string) string {
	switch {
	case !c.inTool && name == "args":
		return "args is only defined in a tool (tools: at the top of the flow)"
	case c.inTool && name == "steps":
		return "a tool cannot read steps; the model passes what a tool needs as its arguments (args)"
	case c.inTool && (name == "item" || name == "index"):
		return name + " is not defined in a tool; the model passes what a tool needs as its arguments (args)"
	case !c.inIf && slices.Contains(statusFuncs, name):
		return name + "() is only defined in a step's if, where it decides whether the step runs; read steps.<id>.status here instead"
	}
	return ""
}

func (r *refCollector) off(n ast.Node) int {
	return runeOffset(r.src, n.Location().From)
}

// runeOffset turns expr's rune offsets into byte offsets of s.
func runeOffset(s string, runes int) int {
	off := 0
	for n := 0; n < runes && off < len(s); n++ {
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off
}

// compileTemplate compiles src (the value of a string field). bare: the
// field is an expression even without ${{ }} (if, foreach).
func (c *compiler) compileTemplate(src, field string, pos Pos, bare, allowItem bool) (*Template, []exprError) {
	t := &Template{src: src, pos: pos, field: field}
	inputs, steps, item, index := map[string]bool{}, map[string]bool{}, false, false
	var errs []exprError
	phs, at, err := scanPlaceholders(src)
	if err != nil {
		return t, []exprError{{at, err.Error()}}
	}
	if bare {
		switch {
		case len(phs) == 0:
			phs = []placeholder{{start: 0, end: len(src), exprStart: 0, exprEnd: len(src)}}
		case len(phs) == 1 && strings.TrimSpace(src[:phs[0].start]) == "" && strings.TrimSpace(src[phs[0].end:]) == "":
		default:
			return t, []exprError{{0, "write one expression, without text around it (e.g. inputs.flag == true)"}}
		}
		if strings.TrimSpace(src[phs[0].exprStart:phs[0].exprEnd]) == "" {
			return t, []exprError{{0, "the expression is empty"}}
		}
		t.whole = true
	} else if len(phs) == 1 && phs[0].start == 0 && phs[0].end == len(src) {
		t.whole = true
	}
	last := 0
	for _, ph := range phs {
		if ph.start > last && !bare {
			t.parts = append(t.parts, part{text: src[last:ph.start]})
		}
		last = ph.end
		exprSrc := src[ph.exprStart:ph.exprEnd]
		if strings.TrimSpace(exprSrc) == "" {
			errs = append(errs, exprError{ph.start, "the expression in ${{ }} is empty"})
			continue
		}
		r := c.cachedExpr(exprSrc, allowItem)
		for _, e := range r.errs {
			errs = append(errs, exprError{ph.exprStart + e.off, e.msg})
		}
		for _, in := range r.refs.Inputs {
			inputs[in] = true
		}
		for _, id := range r.refs.Steps {
			steps[id] = true
		}
		item = item || r.refs.Item
		index = index || r.refs.Index
		t.errReads = appendNew(t.errReads, r.errReads)
		t.failedCmps = appendNew(t.failedCmps, r.failedCmps)
		if r.errs == nil {
			t.parts = append(t.parts, part{expr: r.expr})
		}
	}
	if (last < len(src) || len(phs) == 0) && !bare {
		t.parts = append(t.parts, part{text: src[last:]})
	}
	t.refs = Refs{Inputs: sortedKeys(inputs), Steps: sortedKeys(steps), Item: item, Index: index}
	if len(errs) > 0 {
		return t, errs
	}
	return t, nil
}

// exprResult is one compiled expression with what it reads, or its errors
// (offsets within the expression).
type exprResult struct {
	expr       *compiledExpr
	refs       Refs
	errs       []exprError
	errReads   []string // the steps whose error it reads
	failedCmps []string // the steps whose status it compares with "failed"
}

type exprKey struct {
	src        string
	allowItem  bool
	itemReason string
	inTool     bool
	toolArgs   *toolArgs
	inIf       bool
}

// cachedExpr compiles an expression once per flow: the same text in the
// same context compiles to the same program, and flows repeat expressions
// such as ${{ inputs.topic }} often. Programs are immutable, so Templates
// may share them and serve concurrent runs.
func (c *compiler) cachedExpr(src string, allowItem bool) *exprResult {
	key := exprKey{src, allowItem, c.itemReason, c.inTool, c.toolArgs, c.inIf}
	if r, ok := c.cache[key]; ok {
		return r
	}
	r := c.compileExpr(src, allowItem)
	if c.cache == nil {
		c.cache = map[exprKey]*exprResult{}
	}
	c.cache[key] = r
	return r
}

// compileExpr compiles one expression, collecting its references.
func (c *compiler) compileExpr(src string, allowItem bool) *exprResult {
	rc := &refCollector{c: c, allowItem: allowItem, inputs: map[string]bool{}, steps: map[string]bool{}, src: src}
	ce, err := c.compile(src, rc)
	r := &exprResult{refs: Refs{Inputs: sortedKeys(rc.inputs), Steps: sortedKeys(rc.steps), Item: rc.item, Index: rc.index}, errReads: sortedKeys(rc.errReads), failedCmps: sortedKeys(rc.failedCmps)}
	switch {
	case len(rc.errs) > 0:
		// Our own errors (unknown step or input) say more than the checker's.
		r.errs = rc.errs
	case err != nil:
		r.errs = []exprError{*c.describeCompileError(src, err)}
	default:
		r.expr = ce
	}
	return r
}

// compile is expr.Compile with a configuration made once per flow rather
// than once per expression: building it is most of the cost of compiling a
// short expression. rc walks the parsed tree itself rather than as a
// config visitor: expr type-checks the whole tree once more for every
// visitor it runs, and rc needs no types. When rc finds unknown names the
// type check is skipped: those errors say more than the checker's.
func (c *compiler) compile(src string, rc *refCollector) (*compiledExpr, error) {
	if err := checkExprShape(src); err != nil {
		return nil, err
	}
	cfg := c.conf()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, err
	}
	ast.Walk(&tree.Node, rc)
	if len(rc.errs) > 0 {
		return nil, nil
	}
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, err
	}
	if err := c.checkInputTypes(src, rc.inputs); err != nil {
		return nil, err
	}
	ast.Walk(&tree.Node, concatPatcher{})
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fe.Bind(tree.Source)
		}
		return nil, err
	}
	ast.Walk(&tree.Node, loopPatcher{})
	prog, err := exprcompiler.Compile(tree, cfg)
	if err != nil {
		return nil, err
	}
	return &compiledExpr{src: src, prog: prog, sized: !scopeRead(tree.Node)}, nil
}

// conf is the expr configuration of the flow's environment, made once.
func (c *compiler) conf() *conf.Config {
	if c.config == nil {
		c.config = conf.CreateNew()
		c.config.MaxNodes = maxExprNodes
		expr.Env(evalEnv{})(c.config)
		c.config.Check()
	}
	return c.config
}

func (c *compiler) describeCompileError(src string, err error) *exprError {
	msg := firstLine(err.Error())
	off := 0
	if se, ok := err.(*shapeError); ok {
		return &exprError{off: se.off, msg: "in ${{ " + shortExpr(src) + " }}: " + se.msg}
	}
	if fe, ok := err.(*file.Error); ok {
		msg = fe.Message
		off = runeOffset(src, fe.From)
		if strings.Contains(msg, "exceeds maximum allowed nodes") {
			msg = fmt.Sprintf("the expression is too long (more than %d parts); split the work across steps", maxExprNodes)
		}
		if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
			msg = fmt.Sprintf("unknown name %q", name)
			switch s := suggest(name, envNames); {
			case c.inputs[name] != nil:
				msg += fmt.Sprintf("; did you mean inputs.%s?", name)
			case c.hasStep(name):
				msg += fmt.Sprintf("; did you mean steps.%s.output?", name)
			case s != "":
				msg += fmt.Sprintf("; did you mean %q?", s)
			default:
				msg += "; expressions can read inputs, steps, run, flow (and item, index inside foreach)"
			}
		}
		if m := noFieldRE.FindStringSubmatch(msg); m != nil {
			fields := map[string][]string{"StepState": {"output", "status", "error"}, "runEnv": {"id"}, "flowEnv": {"name"}}[m[1]]
			what := map[string]string{"StepState": "a step", "runEnv": "run", "flowEnv": "flow"}[m[1]]
			msg = fmt.Sprintf("%s has no field %q", what, m[2])
			if s := suggest(m[2], fields); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; it has " + joinAnd(fields)
			}
		}
	}
	// Drop the leading space a ${{ expr }} usually has from the offset.
	if off == 0 {
		off = len(src) - len(strings.TrimLeft(src, " \t\n"))
	}
	return &exprError{off: off, msg: fmt.Sprintf("in ${{ %s }}: %s", shortExpr(src), msg)}
}

// joinAnd lists names as a sentence does: "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// constTemplate is a template whose value was written as YAML data.
func constTemplate(v any, src, field string, pos Pos) *Template {
	return &Template{src: src, pos: pos, field: field, constant: v, hasConstant: true, parts: []part{{text: src}}}
}

// literalTemplate is a template without expressions, made in code.
func literalTemplate(s string) *Template {
	return &Template{src: s, parts: []part{{text: s}}}
}
