package flowspec

import (
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"gopkg.in/yaml.v3"
)

// Lazy loading (Options.Lazy) is for a run's own flow snapshot, which was
// fully checked when the run started. A replay from the last step of a long
// run evaluates one step; type-checking and compiling every expression of
// the snapshot would cost more than the replay itself. So a lazy load reads
// the YAML, checks its structure and builds the graph (the dependencies come
// from parsing each expression, which is cheap), and compiles a template
// the first time it is evaluated, exactly as a full load would have.

// lazyCompile is what compiling a template later needs.
type lazyCompile struct {
	once       sync.Once
	c          *compiler
	bare       bool
	allowItem  bool
	itemReason string
	inTool     bool
	toolArgs   *toolArgs
	inIf       bool
	file       string
	data       []byte // the flow file, to place errors
	// where the scalar the template came from starts, and how it is quoted
	style     yaml.Style
	line, col int
	shell     bool // a run: command: compiling also makes its shell form
	err       error
}

// compiled compiles a lazily loaded template on its first use; concurrent
// first uses wait for one compilation. It is a no-op for other templates.
func (t *Template) compiled() error {
	if t == nil || t.lazy == nil {
		return nil
	}
	lz := t.lazy
	lz.once.Do(func() { lz.err = lz.compile(t) })
	return lz.err
}

func (lz *lazyCompile) compile(t *Template) (err error) {
	defer func() {
		// As in Parse: a panic here is a bug, but the user gets a sentence.
		if r := recover(); r != nil {
			err = &ErrorList{{File: lz.file, Pos: t.pos, Msg: fmt.Sprintf("%s: internal error while compiling (please report it): %v", t.field, r)}}
		}
	}()
	full, problems := lz.compileLocked(t)
	if len(problems) > 0 || lz.shell {
		// Only a snapshot that was never fully checked (or a newer kitaru
		// that reads expressions differently) has problems.
		const hint = " (in the run's flow snapshot; replay with --flow and a fixed flow file)"
		l := &loader{e: errs{file: lz.file}, data: lz.data}
		n := &yaml.Node{Kind: yaml.ScalarNode, Style: lz.style, Value: t.src, Line: lz.line, Column: lz.col}
		for _, e := range problems {
			l.e.add(l.posAt(n, e.off), "%s: %s%s", t.field, e.msg, hint)
		}
		if len(problems) == 0 {
			t.shell = l.shellForm(n, t, hint)
		}
		if err := l.e.err(); err != nil {
			t.shell = nil
			return err
		}
	}
	t.parts, t.whole = full.parts, full.whole
	lz.c, lz.data = nil, nil
	return nil
}

// compileLocked compiles t with the flow's compiler, which templates of
// one flow share and which is not safe for concurrent use.
func (lz *lazyCompile) compileLocked(t *Template) (*Template, []exprError) {
	c := lz.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.itemReason, c.inTool, c.toolArgs, c.inIf = lz.itemReason, lz.inTool, lz.toolArgs, lz.inIf
	defer func() { c.itemReason, c.inTool, c.toolArgs, c.inIf = "", false, nil, false }()
	return c.compileTemplate(t.src, t.field, t.pos, lz.bare, lz.allowItem)
}

// lazyTemplate is compileTemplate for a lazy load: it finds the template's
// references now and leaves compiling for its first use. A template
// without expressions, or whose ${{ }} are malformed, is handled at once.
func (l *loader) lazyTemplate(n *yaml.Node, src, field string, bare, allowItem bool) (*Template, []exprError) {
	c := l.comp
	phs, _, err := scanPlaceholders(src)
	if err != nil || len(phs) == 0 && !bare {
		return c.compileTemplate(src, field, pos(n), bare, allowItem)
	}
	// One allocation for the template and what compiling it later needs.
	both := &struct {
		t  Template
		lz lazyCompile
	}{}
	t := &both.t
	t.src, t.pos, t.field = src, pos(n), field
	switch {
	case bare && len(phs) == 0:
		t.refs = c.refsOf(src)
	case len(phs) == 1:
		t.refs = c.refsOf(src[phs[0].exprStart:phs[0].exprEnd])
	default:
		inputs, steps := map[string]bool{}, map[string]bool{}
		for _, ph := range phs {
			r := c.refsOf(src[ph.exprStart:ph.exprEnd])
			for _, in := range r.Inputs {
				inputs[in] = true
			}
			for _, id := range r.Steps {
				steps[id] = true
			}
			t.refs.Item = t.refs.Item || r.Item
			t.refs.Index = t.refs.Index || r.Index
		}
		t.refs.Inputs, t.refs.Steps = sortedKeys(inputs), sortedKeys(steps)
	}
	lz := &both.lz
	lz.c, lz.bare, lz.allowItem, lz.itemReason, lz.inTool = c, bare, allowItem, c.itemReason, c.inTool
	lz.toolArgs, lz.inIf = c.toolArgs, c.inIf
	lz.file, lz.data, lz.style, lz.line, lz.col = l.e.file, l.data, n.Style, n.Line, n.Column
	t.lazy = lz
	return t, nil
}

// refsOf parses one expression for the inputs and steps it reads, as
// compileExpr would find them, without type-checking or compiling it.
func (c *compiler) refsOf(src string) Refs {
	if !strings.Contains(src, "steps") && !strings.Contains(src, "inputs") &&
		!strings.Contains(src, "item") && !strings.Contains(src, "index") {
		return Refs{}
	}
	if r, ok := c.scanRefs(src); ok {
		return r
	}
	if r, ok := c.refCache[src]; ok {
		return r
	}
	r := c.parseRefs(src)
	if c.refCache == nil {
		c.refCache = map[string]Refs{}
	}
	c.refCache[src] = r
	return r
}

// parseRefs finds an expression's references with expr's parser and the
// visitor compileExpr uses.
func (c *compiler) parseRefs(src string) Refs {
	rc := &refCollector{c: c, allowItem: true, inputs: map[string]bool{}, steps: map[string]bool{}, src: src}
	// A parse error is left for the template's compilation to report.
	if checkExprShape(src) != nil {
		return Refs{}
	}
	if tree, err := parser.ParseWithConfig(src, c.conf()); err == nil {
		ast.Walk(&tree.Node, rc)
	}
	return Refs{Inputs: sortedKeys(rc.inputs), Steps: sortedKeys(rc.steps), Item: rc.item, Index: rc.index}
}
