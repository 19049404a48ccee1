package flowspec

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/internal/textcut"
)

// nestings builds, for a depth n, an expression that nests n levels by
// each construct that makes expr's parser, checker or compiler recurse.
var nestings = []struct {
	name  string
	build func(n int) string
}{
	{"parentheses", func(n int) string { return strings.Repeat("(", n) + "1" + strings.Repeat(")", n) }},
	{"lists", func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }},
	{"maps", func(n int) string { return strings.Repeat("{a: ", n) + "1" + strings.Repeat("}", n) }},
	{"unary minus", func(n int) string { return strings.Repeat("-", n) + "1" }},
	{"unary plus", func(n int) string { return strings.Repeat("+ ", n) + "1" }},
	{"bang", func(n int) string { return strings.Repeat("!", n) + "true" }},
	{"not", func(n int) string { return strings.Repeat("not ", n) + "true" }},
	{"negated parentheses", func(n int) string { return strings.Repeat("-(", n) + "1" + strings.Repeat(")", n) }},
	{"ternary else", func(n int) string { return strings.Repeat("true ? 1 : ", n) + "2" }},
	{"ternary then", func(n int) string { return strings.Repeat("true ? ", n) + "1" + strings.Repeat(" : 2", n) }},
	{"power", func(n int) string { return strings.Repeat("2**", n) + "1" }},
	{"caret", func(n int) string { return strings.Repeat("2^", n) + "1" }},
	{"let", func(n int) string { return strings.Repeat("let x = 1; ", n) + "x" }},
	{"if else", func(n int) string { return strings.Repeat("if true { 1 } else ", n) + "{ 2 }" }},
	{"calls", func(n int) string { return strings.Repeat("len(", n) + "[]" + strings.Repeat(")", n) }},
	{"predicates", func(n int) string { return strings.Repeat("map([1], ", n) + "#" + strings.Repeat(")", n) }},
	{"negated arguments", func(n int) string { return strings.Repeat("-max(1, ", n) + "1" + strings.Repeat(")", n) }},
	{"bang times", func(n int) string { return strings.Repeat("!true * ", n) + "1" }},
}

// deepFlow is a flow whose one expression is src, in a block scalar so
// that YAML takes it as written.
func deepFlow(src string) []byte {
	return []byte("name: deep\nsteps:\n  a:\n    kind: checkpoint\n    value: |-\n      ${{ " + src + " }}\n")
}

// TestDeepExpressionsRefused: an expression nested 10^2 to 10^6 levels by
// any construct is refused with a sentence at its place, in bounded
// memory, by a full and a lazy load. Before the check, expr's parser
// recursed once per level and died of a Go stack overflow, which no
// recover catches.
func TestDeepExpressionsRefused(t *testing.T) {
	for _, tt := range nestings {
		for _, n := range []int{MaxExprDepth + 1, 20000, 100000, 1000000} {
			src := tt.build(n)
			if len(src) > MaxFileSize/2 {
				continue
			}
			want := fmt.Sprintf("at most %d are allowed", MaxExprDepth)
			if len(src) > MaxExprLen {
				want = fmt.Sprintf("bytes long; at most %d (64KiB) are allowed", MaxExprLen)
			}
			data := deepFlow(src)
			for _, lazy := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%d/lazy=%v", tt.name, n, lazy), func(t *testing.T) {
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					f, err := Parse("deep.yaml", data, Options{Lazy: lazy})
					if err == nil && lazy {
						_, err = f.Steps[0].Checkpoint.Value.Eval(&Scope{})
					}
					runtime.ReadMemStats(&after)
					if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "deep.yaml:6:") && !strings.Contains(err.Error(), `step "a" value`) {
						t.Fatalf("got %v, want an error saying %q", cut(err), want)
					}
					checkSentence(t, err.Error())
					if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
						t.Errorf("allocated %d MiB", got>>20)
					}
				})
			}
		}
	}
}

func cut(err error) string {
	if err == nil {
		return "no error"
	}
	return textcut.Runes(err.Error(), 300)
}

// TestExprDepthAtLimit: every construct nested half the bound still
// compiles, so the bound refuses only what no flow needs; past it, the
// error points inside the expression. Parentheses count one level each:
// MaxExprDepth of them pass, one more does not.
func TestExprDepthAtLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range nestings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkExprShape(tt.build(MaxExprDepth / 2)); err != nil {
				t.Errorf("%d levels: %v", MaxExprDepth/2, err)
			}
			src := tt.build(MaxExprDepth + 1)
			se, ok := checkExprShape(src).(*shapeError)
			if !ok || !strings.Contains(se.msg, fmt.Sprintf("levels deep; at most %d are allowed", MaxExprDepth)) {
				t.Fatalf("%d levels: %v", MaxExprDepth+1, se)
			}
			if se.off <= 0 || se.off >= len(src) {
				t.Errorf("offset %d outside the expression", se.off)
			}
		})
	}
	parens := nestings[0].build
	c := newCompiler(nil, nil)
	if _, errs := c.compileTemplate(parens(MaxExprDepth), "f", Pos{1, 1}, true, true); errs != nil {
		t.Errorf("%d parentheses: %v", MaxExprDepth, errs)
	}
	want := fmt.Sprintf("the expression nests %d levels deep; at most %d are allowed: split it into smaller expressions or steps", MaxExprDepth+1, MaxExprDepth)
	if err := checkExprShape(parens(MaxExprDepth + 1)); err == nil || err.Error() != want {
		t.Errorf("%d parentheses: %v, want %q", MaxExprDepth+1, err, want)
	}
}

// TestExprShapeOrdinary: long flat expressions, brackets in strings and
// comments, and many unary operators side by side are not deep.
func TestExprShapeOrdinary(t *testing.T) {
	t.Parallel()
	deepText := strings.Repeat("(", 500)
	for _, src := range []string{
		`"` + deepText + `"`, `'` + deepText + `\' ` + deepText + `'`, "`" + deepText + "`",
		"1 /* " + deepText + " */ + 1", "1 // " + deepText + "\n + 1",
		strings.Repeat("-inputs.n + ", 500) + "1", strings.Repeat("!true || ", 500) + "true",
		strings.Repeat("[1, -2, (3)], ", 500) + "1", "[" + strings.Repeat("inputs.n > 1 ? 1 : 2, ", 300) + "1]",
		strings.Repeat("a.b?.c ?? ", 300) + "1", "[" + strings.Repeat("1..2, ", 300) + "3]", "[" + strings.Repeat("x not in y, ", 300) + "1]",
		`"unclosed ` + deepText,
	} {
		if err := checkExprShape(src); err != nil {
			t.Errorf("%.60q: %v", src, err)
		}
	}
}

// TestFlatExpressionMemory: the longest flat expression within the node
// limit builds a tree thousands of levels deep on its left; it compiles in
// bounded memory.
func TestFlatExpressionMemory(t *testing.T) {
	src := strings.Repeat("1 + ", maxExprNodes/2-1) + "1"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse("flat.yaml", deepFlow(src), Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(cut(err))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("allocated %d MiB", got>>20)
	}
}

// TestBlockYAMLDeepFlow: the quick reader gives a deeply nested flow
// collection to yaml.v3 (which bounds it) rather than recursing per level.
func TestBlockYAMLDeepFlow(t *testing.T) {
	// Not parallel: it measures what the whole process allocates.
	for _, n := range []int{maxBlockFlowDepth + 1, 1000000} {
		data := []byte("name: x\nsteps:\n  a:\n    kind: checkpoint\n    value: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, ok := parseBlockYAML(data)
		runtime.ReadMemStats(&after)
		if ok {
			t.Errorf("%d levels: read by the quick reader", n)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20+uint64(len(data))*2 {
			t.Errorf("%d levels: allocated %d MiB", n, got>>20)
		}
	}
	if _, ok := parseBlockYAML([]byte("name: x\nv: " + strings.Repeat("[", maxBlockFlowDepth) + strings.Repeat("]", maxBlockFlowDepth) + "\n")); !ok {
		t.Errorf("%d levels: not read by the quick reader", maxBlockFlowDepth)
	}
}
