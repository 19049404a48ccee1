package flowspec

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
)

// Expressions compile against inputs of unknown type, since a program is
// run with whatever values a run binds. Yet a declared input's value
// always has its declared Go type (BindInputs coerces it), so an
// expression such as inputs.topic + inputs.n (string plus integer) can
// never succeed. checkInputTypes type-checks the expression once more with
// each input it reads at that type, only to report such errors; the
// program that runs is the one compiled without them.

// inputGoTypes are the Go types BindInputs gives each declared type.
var inputGoTypes = map[string]reflect.Type{
	"string":  reflect.TypeFor[string](),
	"integer": reflect.TypeFor[int](),
	"number":  reflect.TypeFor[float64](),
	"boolean": reflect.TypeFor[bool](),
	"list":    reflect.TypeFor[[]any](),
	"object":  reflect.TypeFor[map[string]any](),
}

// typedName is the variable an input is read as in the typed check; no
// expression can spell it.
func typedName(input string) string { return "inputs." + input }

// staticType is the type every value of in has, or nil when that is not
// known (a default of null leaves the input nil).
func staticType(in *Input) reflect.Type {
	if in == nil || in.HasDefault && in.Default == nil {
		return nil
	}
	return inputGoTypes[in.Type]
}

// checkInputTypes returns the type error src has with its inputs at their
// declared types, or nil. It is called only once src has compiled with
// inputs untyped.
func (c *compiler) checkInputTypes(src string, read map[string]bool) error {
	typed := false
	for name := range read {
		if staticType(c.inputs[name]) != nil {
			typed = true
			break
		}
	}
	if !typed || !c.typed {
		return nil
	}
	cfg := c.typedConf()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil // reported by the untyped compile
	}
	ast.Walk(&tree.Node, inputTyper{c})
	if _, err := checker.Check(tree, cfg); err != nil {
		var fe *file.Error
		if !errors.As(err, &fe) || !certainAtRunTime(fe.Message) {
			return nil
		}
		var said []string
		for _, in := range c.inNames {
			if read[in] && staticType(c.inputs[in]) != nil {
				said = append(said, fmt.Sprintf("inputs.%s %s", in, c.inputs[in].Type))
			}
		}
		fe.Message += " (declared: " + strings.Join(said, ", ") + ")"
		return fe
	}
	return nil
}

// mismatchRE matches the checker's operator errors, of one operand type
// or two.
var mismatchRE = regexp.MustCompile(`^invalid operation: \S+ \(mismatched types? (.+?)(?: and (.+))?\)$`)

// certainAtRunTime says whether the typed checker's message is one the
// run would fail with too. The checker is stricter than the run in places:
// the run turns a float into an int where one is needed (repeat(s, 2.0),
// list[2.0], 1 .. 3.0), so anything about arguments, indexes, or two
// numbers is left alone. What remains is an operator applied to what
// cannot take it (text, a boolean, a list, an object), which always fails.
func certainAtRunTime(msg string) bool {
	m := mismatchRE.FindStringSubmatch(msg)
	if m == nil {
		return false
	}
	numeric := func(t string) bool { return t == "int" || t == "float64" }
	if m[2] == "" {
		return true // a unary operator (! on a number, - on text)
	}
	return !numeric(m[1]) || !numeric(m[2])
}

// typedConf is the configuration of the typed check: the flow's
// environment, plus one variable of its declared type per input.
func (c *compiler) typedConf() *conf.Config {
	if c.typedConfig == nil {
		env := map[string]any{
			"inputs": map[string]any{},
			"steps":  map[string]StepState{},
			"run":    runEnv{},
			"flow":   flowEnv{},
			"item":   nil,
			"index":  0,
			"args":   nil,
		}
		for name, in := range c.inputs {
			if t := staticType(in); t != nil {
				env[typedName(name)] = reflect.Zero(t).Interface()
			}
		}
		cfg := conf.CreateNew()
		cfg.MaxNodes = maxExprNodes
		expr.Env(env)(cfg)
		cfg.Check()
		c.typedConfig = cfg
	}
	return c.typedConfig
}

// inputTyper turns each inputs.NAME (or inputs["NAME"]) of a typed input
// into that input's typed variable.
type inputTyper struct{ c *compiler }

func (v inputTyper) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "inputs" {
		return
	}
	p, ok := m.Property.(*ast.StringNode)
	if !ok || staticType(v.c.inputs[p.Value]) == nil {
		return
	}
	ast.Patch(node, &ast.IdentifierNode{Value: typedName(p.Value)})
}
