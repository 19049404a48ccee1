package flowspec

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"gopkg.in/yaml.v3"
)

// boolean reads a true or false field; what names it in messages.
func (l *loader) boolean(n *yaml.Node, what string) bool {
	v := resolve(n)
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		return strings.EqualFold(v.Value, "true")
	}
	l.e.add(pos(v), "%s must be true or false, not %s", what, nodeKind(v))
	return false
}

// callsAfterFailure says whether an `if` calls failure() or always(), the
// status functions that let a step run after a dependency failed or was
// skipped. It parses the source itself (not the compiled program), so a
// lazily loaded flow decides the same way as a fully loaded one.
func (c *compiler) callsAfterFailure(src string) bool {
	if !strings.Contains(src, "failure") && !strings.Contains(src, "always") {
		return false
	}
	if phs, _, err := scanPlaceholders(src); err == nil && len(phs) == 1 {
		src = src[phs[0].exprStart:phs[0].exprEnd]
	}
	if checkExprShape(src) != nil {
		return false
	}
	tree, err := parser.ParseWithConfig(src, c.conf())
	if err != nil {
		return false
	}
	v := &statusCalls{}
	ast.Walk(&tree.Node, v)
	return v.found
}

// statusCalls finds calls of failure() or always() in an expression.
type statusCalls struct{ found bool }

func (v *statusCalls) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); ok && (id.Value == "failure" || id.Value == "always") {
		v.found = true
	}
}

// errorRead is an expression reading steps.<of>.error: in step by's
// fields (nil: the flow's output), at a position.
type errorRead struct {
	by *Step
	of string
	at Pos
	// status: not the error but steps.<of>.status compared with "failed".
	status bool
}

// noteErrorReads keeps a step's reads of other steps' errors.
func (l *loader) noteErrorReads(s *Step, p *stepParts) {
	for _, t := range append([]*Template{p.ifT}, p.other...) {
		if t == nil {
			continue
		}
		l.noteReads(s, t)
	}
}

// noteReads keeps a template's reads of steps' errors and failed
// statuses; by is nil for the flow's output.
func (l *loader) noteReads(by *Step, t *Template) {
	for _, id := range t.errReads {
		l.errReads = append(l.errReads, errorRead{by: by, of: id, at: t.pos})
	}
	for _, id := range t.failedCmps {
		l.errReads = append(l.errReads, errorRead{by: by, of: id, at: t.pos, status: true})
	}
}

// checkErrorReads reports each read of steps.X.error that can only ever
// give "": where it is read, X is known to have completed. A step runs
// after a failure of X only when X has continue_on_error or the step's if
// calls failure() or always(); the flow's output is made only when the run
// completed, so only a continued failure shows there.
func (l *loader) checkErrorReads() {
	for _, r := range l.errReads {
		x := l.flow.byID[r.of]
		if x == nil || x.ContinueOnError || r.by != nil && r.by.IfAfterFailure {
			continue
		}
		what := fmt.Sprintf("reads steps.%s.error, which is always empty there", r.of)
		if r.status {
			what = fmt.Sprintf("compares steps.%s.status with \"failed\", which it never is there", r.of)
		}
		if r.by == nil {
			l.e.add(r.at, "output %s: the output is made only when the run completed, so only a failure of a step with continue_on_error shows; add continue_on_error: true to step %q", what, r.of)
			continue
		}
		l.e.add(r.at, "step %q %s: without failure() or always() in its if, success() is implied and %s runs only after %s completed; write e.g. if: failure() && steps.%s.status == \"failed\", or add continue_on_error: true to step %q", r.by.ID, what, r.by.ID, r.of, r.of, r.of)
	}
}
