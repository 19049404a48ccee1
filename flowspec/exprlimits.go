package flowspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/kitaruhq/kitaru/internal/bytesize"
	"github.com/kitaruhq/kitaru/internal/textcut"
)

// ExprMemoryLimit is how much memory one evaluation of an expression may
// build: text counts its bytes, each element of a list or map it makes
// counts exprCell bytes. The same bound caps what a template renders to.
const ExprMemoryLimit = 64 << 20

// exprCell is what expr's VM counts one unit of its memory budget for: it
// counts list, range and map elements, and an element is a 16-byte
// interface value. Text is converted to these units.
const exprCell = 16

const exprBudget = ExprMemoryLimit / exprCell

// maxExprNodes bounds an expression's size at load; expr counts its nodes.
const maxExprNodes = 10000

// ErrExprMemory is what an evaluation past ExprMemoryLimit wraps.
var ErrExprMemory = errors.New("expression memory limit reached")

// exprOverBudget is the text expr's VM panics with when its budget runs
// out; our size-checked builtins fail with the same words so that both
// reach the user as one sentence.
const exprOverBudget = "memory budget exceeded"

var errOverBudget = errors.New(exprOverBudget)

// addBuiltin is the name string concatenation is compiled to. No
// expression can spell it, so it cannot be called directly.
const addBuiltin = "+"

// expr's VM counts the memory of ranges and of the lists and maps it
// builds, but not of text, and its builtins allocate before anything is
// counted (repeat checks only its count, so repeat(repeat("x", 1e5), 1e5)
// asks for 10 GB). These builtins are made to measure what they are about
// to allocate, refuse past the budget before allocating, and report it to
// the VM so a loop of them adds up. The table is expr's own, global to
// the process; flowspec is its only user.
func init() {
	costs := map[string]func(args []any) uint{
		"repeat":     repeatCost,
		"replace":    replaceCost,
		"join":       joinCost,
		"string":     func(a []any) uint { return textCells(valueText(a[0], false)) },
		"toJSON":     toJSONCost,
		"upper":      func(a []any) uint { return textCells(strLen(a, 0)) },
		"lower":      func(a []any) uint { return textCells(strLen(a, 0)) },
		"toBase64":   func(a []any) uint { return textCells((strLen(a, 0) + 2) / 3 * 4) },
		"fromBase64": func(a []any) uint { return textCells(strLen(a, 0)) },
		// Decoded JSON takes more room than its text: about 8 bytes of
		// values per byte for a list of small numbers.
		"fromJSON":   func(a []any) uint { return uint(strLen(a, 0) / 2) },
		"split":      splitCost,
		"splitAfter": splitCost,
		"keys":       func(a []any) uint { return uint(lenOf(a[0])) },
		"values":     func(a []any) uint { return uint(lenOf(a[0])) },
		"toPairs":    func(a []any) uint { return uint(3 * lenOf(a[0])) },
		"fromPairs":  func(a []any) uint { return uint(lenOf(a[0])) },
		// These count what they made only once it is made, and concat
		// appends without sizing its list first.
		"reverse": func(a []any) uint { return uint(lenOf(a[0])) },
		"sort":    func(a []any) uint { return uint(lenOf(a[0])) },
		"concat":  concatCost,
		"flatten": flattenCost,
	}
	for name, cost := range costs {
		id, ok := builtin.Index[name]
		if !ok {
			panic("flowspec: expr has no builtin " + name)
		}
		orig := builtin.Builtins[id]
		f := *orig
		call := orig.Func
		if safe := orig.Safe; safe != nil {
			call = func(args ...any) (any, error) {
				out, _, err := safe(args...)
				return out, err
			}
		}
		if orig.Fast != nil {
			fast := orig.Fast
			call = func(args ...any) (any, error) { return fast(args[0]), nil }
		}
		if name == "toJSON" {
			call = toJSON
		}
		// The compiler prefers Fast, then Safe: keep Func for its type.
		f.Fast = nil
		f.Safe = measured(cost, call)
		builtin.Builtins[id] = &f
	}
	builtin.Index[addBuiltin] = len(builtin.Builtins)
	builtin.Builtins = append(builtin.Builtins, &builtin.Function{
		Name:  addBuiltin,
		Safe:  add,
		Types: []reflect.Type{reflect.TypeFor[func(any, any) any]()},
	})
	builtin.Index[chargeBuiltin] = len(builtin.Builtins)
	builtin.Builtins = append(builtin.Builtins, &builtin.Function{
		Name:  chargeBuiltin,
		Safe:  charge,
		Types: []reflect.Type{reflect.TypeFor[func(any, int) any]()},
	})
}

// toJSONCost is what toJSON allocates: for text, its quoted form, made at
// once (toJSON below); for anything else encoding/json grows a buffer,
// copies it out and indents it into another, about eight times the text
// it returns.
func toJSONCost(a []any) uint {
	n := valueText(a[0], true)
	if _, ok := a[0].(string); ok {
		return textCells(n)
	}
	return textCells(8 * n)
}

// toJSON is expr's toJSON, but text, the common case and the one that
// nests (toJSON of toJSON doubles every quote), is quoted straight into a
// string of its final length, as encoding/json would write it.
func toJSON(args ...any) (any, error) {
	if s, ok := args[0].(string); ok {
		return quoteJSON(s), nil
	}
	b, err := json.MarshalIndent(args[0], "", "  ")
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// quoteJSON is s as encoding/json encodes a string, HTML characters
// escaped, in one allocation.
func quoteJSON(s string) string {
	var b strings.Builder
	b.Grow((&textSizer{indent: true}).str(s))
	b.WriteByte('"')
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
	return b.String()
}

// chargeBuiltin is the name of charge, which no expression can spell
// either.
const chargeBuiltin = "charge "

// loopCost is what the VM's loops that build something take per element
// of their list beyond what the VM counts itself, in exprCell units,
// measured: map and filter box each value and grow the stack, groupBy
// makes a map entry and a list per key.
var loopCost = map[string]int{"map": 4, "filter": 4, "sortBy": 2, "groupBy": 16}

// charge passes a loop's list through, counting first what the loop will
// allocate for it.
func charge(args ...any) (any, uint, error) {
	per, _ := args[1].(int)
	n := uint(lenOf(args[0])) * uint(per)
	if n >= exprBudget {
		return nil, 0, errOverBudget
	}
	return args[0], n, nil
}

// loopPatcher makes the list of each building loop pass through charge.
// It runs after the optimizer, which recognises loops by their shape.
type loopPatcher struct{}

func (loopPatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BuiltinNode)
	if !ok || len(b.Arguments) == 0 {
		return
	}
	per, ok := loopCost[b.Name]
	if !ok {
		return
	}
	list := b.Arguments[0]
	k := &ast.IntegerNode{Value: per}
	k.SetType(reflect.TypeFor[int]())
	call := &ast.BuiltinNode{Name: chargeBuiltin, Arguments: []ast.Node{list, k}}
	call.SetNature(*list.Nature())
	call.SetLocation(list.Location())
	b.Arguments[0] = call
}

// measured is call preceded by its cost: refused when it alone passes the
// budget, else reported to the VM, which sums it with everything else.
func measured(cost func([]any) uint, call func(args ...any) (any, error)) func(args ...any) (any, uint, error) {
	return func(args ...any) (any, uint, error) {
		n := cost(args)
		if n >= exprBudget {
			return nil, 0, errOverBudget
		}
		out, err := call(args...)
		return out, n, err
	}
}

// add is expr's + with the length of joined text counted first.
func add(args ...any) (any, uint, error) {
	a, aok := args[0].(string)
	b, bok := args[1].(string)
	if aok && bok {
		n := textCells(len(a) + len(b))
		if n >= exprBudget {
			return nil, 0, errOverBudget
		}
		return a + b, n, nil
	}
	return runtime.Add(args[0], args[1]), 0, nil
}

// concatPatcher compiles + to add wherever both sides may be text; a +
// with a number on either side cannot join text and stays the VM's own.
type concatPatcher struct{}

func (concatPatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "+" || b.Left.Nature().IsNumber() || b.Right.Nature().IsNumber() {
		return
	}
	call := &ast.BuiltinNode{Name: addBuiltin, Arguments: []ast.Node{b.Left, b.Right}}
	call.SetNature(*b.Nature())
	ast.Patch(node, call)
}

func textCells(n int) uint { return uint(n+exprCell-1) / exprCell }

func strLen(args []any, i int) int {
	if i < len(args) {
		if s, ok := args[i].(string); ok {
			return len(s)
		}
	}
	return 0
}

func intArg(args []any, i int) (int, bool) {
	if i >= len(args) {
		return 0, false
	}
	switch n := args[i].(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n >= math.MinInt64 && n <= math.MaxInt64 {
			return int(n), true
		}
	}
	return 0, false
}

func repeatCost(args []any) uint {
	n, ok := intArg(args, 1)
	if !ok || n <= 0 {
		return 0 // repeat itself refuses a negative count
	}
	hi, lo := bits.Mul(uint(strLen(args, 0)), uint(n))
	if hi > 0 || lo > math.MaxInt/2 {
		return math.MaxUint
	}
	return textCells(int(lo))
}

func replaceCost(args []any) uint {
	s, _ := args[0].(string)
	old, _ := args[1].(string)
	repl, _ := args[2].(string)
	if len(repl) <= len(old) {
		return textCells(len(s))
	}
	count := utf8.RuneCountInString(s) + 1
	if old != "" {
		count = strings.Count(s, old)
	}
	if n, ok := intArg(args, 3); ok && n >= 0 && n < count {
		count = n
	}
	grow := len(repl) - len(old)
	if count > 0 && grow > (math.MaxInt/2-len(s))/count {
		return math.MaxUint
	}
	return textCells(len(s) + count*grow)
}

func joinCost(args []any) uint {
	glue := strLen(args, 1)
	n := 0
	add := func(s string) bool {
		n += len(s) + glue
		return n < ExprMemoryLimit
	}
	switch list := args[0].(type) {
	case []string:
		for _, s := range list {
			if !add(s) {
				break
			}
		}
	case []any:
		for _, e := range list {
			if s, ok := e.(string); ok && !add(s) {
				break
			}
		}
	}
	return textCells(n)
}

func splitCost(args []any) uint {
	s, _ := args[0].(string)
	sep, _ := args[1].(string)
	parts := utf8.RuneCountInString(s)
	if sep != "" {
		parts = strings.Count(s, sep) + 1
	}
	if n, ok := intArg(args, 2); ok && n >= 0 && n < parts {
		parts = n
	}
	return uint(parts)
}

func concatCost(args []any) uint {
	n := uint(0)
	for _, a := range args {
		n += uint(lenOf(a))
	}
	return 2 * n
}

// flattenCost is what flatten allocates: each nested list makes a list
// of the elements flattened below it, so a list nested in itself many
// times ([#acc, #acc] in a reduce) is small in memory but huge
// flattened. The walk counts each list it visits too, so that nesting
// empty lists adds up, and it stops once the sum passes the budget.
func flattenCost(args []any) uint {
	v := reflect.ValueOf(args[0])
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 0 // flatten refuses it itself
	}
	var cost uint
	flattenWalk(v, 0, &cost)
	return cost
}

// flattenWalk adds to cost what flattening v allocates and gives the
// number of elements v flattens to.
func flattenWalk(v reflect.Value, depth int, cost *uint) (leaves uint) {
	if depth > builtin.MaxDepth {
		return 0 // flatten refuses it itself
	}
	*cost++
	for i := 0; i < v.Len() && *cost < exprBudget; i++ {
		e := v.Index(i)
		for (e.Kind() == reflect.Interface || e.Kind() == reflect.Pointer) && !e.IsNil() {
			e = e.Elem()
		}
		if e.Kind() == reflect.Slice || e.Kind() == reflect.Array {
			leaves += flattenWalk(e, depth+1, cost)
		} else {
			leaves++
		}
	}
	*cost += 2 * leaves // its list, grown by appending
	return leaves
}

func lenOf(v any) int {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.String:
		return rv.Len()
	}
	return 0
}

// valueText estimates how long v is as JSON (indented as toJSON writes
// it, when indent is set), stopping once it passes ExprMemoryLimit: a list
// of one long string repeated takes little memory but much text.
func valueText(v any, indent bool) int {
	s := textSizer{indent: indent}
	s.any(v, 1)
	return s.n
}

// any is add without reflection for the values JSON and expressions make.
func (s *textSizer) any(v any, depth int) {
	switch x := v.(type) {
	case nil:
		s.n += 4
	case string:
		s.n += s.str(x)
	case bool:
		s.n += 5
	case int:
		s.n += intLen(x)
	case float64:
		s.n += 24
	case []any:
		s.n += 2
		for _, e := range x {
			if s.n > ExprMemoryLimit {
				return
			}
			s.sep(depth)
			s.any(e, depth+1)
		}
	case []int: // a range
		s.n += 2
		for _, e := range x {
			s.sep(depth)
			s.n += intLen(e)
		}
	case []string:
		s.n += 2
		for _, e := range x {
			if s.n > ExprMemoryLimit {
				return
			}
			s.sep(depth)
			s.n += s.str(e)
		}
	case map[string]any:
		s.n += 2
		for k, e := range x {
			if s.n > ExprMemoryLimit {
				return
			}
			s.sep(depth)
			s.n += s.str(k) + 2
			s.any(e, depth+1)
		}
	default:
		s.add(reflect.ValueOf(v), depth)
	}
}

type textSizer struct {
	n      int
	indent bool // toJSON's text: indented, strings escaped
}

// str is how long x is as text in a list: quoted, and for toJSON escaped
// as encoding/json escapes it (a quote or backslash doubles, a control
// character or < > & takes six bytes), so that toJSON of toJSON of text
// full of quotes is not taken for the length of its input.
func (s *textSizer) str(x string) int {
	n := len(x) + 2
	if !s.indent {
		return n
	}
	for i := 0; i < len(x); {
		c := x[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n++
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(x[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // one byte becomes \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
		i += size
	}
	return n
}

func (s *textSizer) add(v reflect.Value, depth int) {
	if s.n > ExprMemoryLimit {
		return
	}
	switch v.Kind() {
	case reflect.Invalid:
		s.n += 4
	case reflect.String:
		s.n += s.str(v.String())
	case reflect.Bool:
		s.n += 5
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			s.n += 4
			return
		}
		s.add(v.Elem(), depth)
	case reflect.Slice, reflect.Array:
		s.n += 2
		for i := 0; i < v.Len() && s.n <= ExprMemoryLimit; i++ {
			s.sep(depth)
			s.add(v.Index(i), depth+1)
		}
	case reflect.Map:
		s.n += 2
		for it := v.MapRange(); it.Next() && s.n <= ExprMemoryLimit; {
			s.sep(depth)
			s.add(it.Key(), depth+1)
			s.add(it.Value(), depth+1)
		}
	case reflect.Struct:
		s.n += 2
		for i := 0; i < v.NumField() && s.n <= ExprMemoryLimit; i++ {
			s.sep(depth)
			s.n += len(v.Type().Field(i).Name) + 3
			if v.Type().Field(i).IsExported() {
				s.add(v.Field(i), depth+1)
			}
		}
	default:
		s.n += 24 // a number; the longest float64 is 24 bytes
	}
}

// intLen is the length of n in decimal.
func intLen(n int) int {
	l := 1
	if n < 0 {
		l, n = 2, -n
	}
	for ; n >= 10; n /= 10 {
		l++
	}
	return l
}

// sep counts a separator, and the line break and indentation an indented
// encoding puts before each element.
func (s *textSizer) sep(depth int) {
	s.n += 2
	if s.indent {
		s.n += 1 + 2*depth
	}
}

// overLimit says whether an expression's result is too big to format or
// keep: text and numbers were counted as they were made, or came from
// outside; a list or map may hold the same long text many times. Only
// results a program may have built are measured (compiledExpr.sized).
func overLimit(v any) bool {
	switch v.(type) {
	case nil, string, bool, int, float64:
		return false
	}
	return valueText(v, false) > ExprMemoryLimit
}

// scopeRead says whether an expression's result can only be a scalar or
// a value the scope holds, whole or a part of it: ${{ steps.x.output }},
// ${{ item.tags }}, a choice between such reads. Such a result was built
// by no one here; it is the data a step, an input or a foreach brought,
// which was measured when it was made (a value: or foreach expression) or
// read from bounded text. Measuring it on every read would cost the size
// of the data each time, and the common template is exactly such a read.
// Anything else, a literal or a builtin's list, may repeat one long value
// many times and is measured.
func scopeRead(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		// Only reached outside any let (a VariableDeclaratorNode is not
		// a read), so the name is the environment's, not a variable's.
		return true
	case *ast.NilNode, *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode, *ast.StringNode:
		return true
	case *ast.MemberNode:
		return scopeRead(n.Node)
	case *ast.ChainNode:
		return scopeRead(n.Node)
	case *ast.SliceNode:
		return scopeRead(n.Node)
	case *ast.ConditionalNode:
		return scopeRead(n.Exp1) && scopeRead(n.Exp2)
	case *ast.BinaryNode:
		return n.Operator == "??" && scopeRead(n.Left) && scopeRead(n.Right)
	case *ast.BuiltinNode:
		// An element of a list or map is a part of it.
		switch n.Name {
		case "first", "last", "get", "find", "findLast":
			return len(n.Arguments) > 0 && scopeRead(n.Arguments[0])
		}
	}
	return false
}

// isOverBudget says whether an evaluation error is expr's budget running
// out (its VM's or one of the measured builtins above).
func isOverBudget(err error) bool {
	var fe *file.Error
	return errors.As(err, &fe) && fe.Message == exprOverBudget
}

// memoryError is the sentence for an expression past the limit.
func (t *Template) memoryError(src string) error {
	return &memoryError{fmt.Sprintf("%s: ${{ %s }} would use more than %s of memory, the limit for one expression; expressions are for small values: build large text in a checkpoint's run: command",
		t.field, shortExpr(src), bytesize.Format(ExprMemoryLimit))}
}

type memoryError struct{ msg string }

func (e *memoryError) Error() string { return e.msg }
func (e *memoryError) Unwrap() error { return ErrExprMemory }

// shortExpr is an expression's source on one line, cut, for a message:
// a message of several lines would break FILE:LINE:COL output.
func shortExpr(src string) string {
	if strings.ContainsAny(src, "\n\r\t") {
		src = strings.Join(strings.Fields(src), " ")
	}
	src = strings.TrimSpace(src)
	if utf8.RuneCountInString(src) > 80 {
		return textcut.Runes(src, 80)
	}
	return src
}
