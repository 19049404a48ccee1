package flowspec

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// FuzzLoad checks that no input makes the loader panic or hang, and that a
// flow that loads can be walked and evaluated.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../examples/*.yaml", "../testdata/flowspec/errors/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	// Nesting past the bounds, in expressions and in YAML flow collections.
	for _, seed := range []string{
		"${{ " + strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200) + " }}",
		"${{ " + strings.Repeat("-", 200) + "1 }}", "${{ " + strings.Repeat("true ? 1 : ", 150) + "2 }}",
		"${{ " + strings.Repeat("[", 70000) + " }}",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
	} {
		f.Add([]byte("name: deep\nsteps:\n  a:\n    kind: checkpoint\n    value: |-\n      " + seed + "\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Parse("fuzz.yaml", data, Options{})
		if err != nil {
			if _, ok := err.(*ErrorList); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			// Parse turns a panic into this message; the fuzzer must see it.
			if strings.Contains(err.Error(), "internal error while loading") {
				t.Fatal(err)
			}
			return
		}
		if len(fl.Topo()) != len(fl.Steps) {
			t.Fatalf("Topo has %d of %d steps", len(fl.Topo()), len(fl.Steps))
		}
		_ = fl.Mermaid()
		_ = fl.DOT()
		in := map[string]any{}
		for _, i := range fl.Inputs {
			in[i.Name] = i.Default
		}
		scope := &Scope{Inputs: in, Steps: map[string]StepState{}}
		for _, s := range fl.Steps {
			// Evaluation may fail (missing outputs), but must not panic.
			_, _ = s.If.Bool(scope)
			if s.LLM != nil {
				_, _ = s.LLM.Prompt.Render(scope)
			}
			if s.Checkpoint != nil {
				_, _ = s.Checkpoint.Value.Eval(scope)
			}
		}
	})
}

// FuzzTemplate checks the placeholder scanner, the compiler and evaluation
// on arbitrary field text.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"plain", "${{ inputs.topic }}", `x ${{ "}}" }} y`, "${{ {\"a\": {\"b\": 1}} }}", "${{ steps.a.output", "${{ '\\'}}' }}",
		"${{ `raw }}` }}", "${{ item }} ${{ index }}", "inputs.n > 2", "${{ 0..3 }}", "${{ steps.outline.output.k }}",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, bare bool) {
		c := newCompiler([]*Input{{Name: "topic", Type: "string"}, {Name: "n", Type: "integer"}}, []string{"a", "outline"})
		tmpl, errs := c.compileTemplate(src, "fuzz", Pos{1, 1}, bare, true)
		for _, e := range errs {
			if e.off < 0 || e.off > len(src) {
				t.Fatalf("error offset %d outside %q", e.off, src)
			}
		}
		if errs != nil {
			return
		}
		scope := &Scope{Inputs: map[string]any{"topic": "t", "n": 1}, Steps: map[string]StepState{"a": {Output: []any{1}}}}
		_, _ = tmpl.Eval(scope)
		_, _ = tmpl.Render(scope)
		_, _ = tmpl.Bool(scope)
	})
}

// FuzzExpr compiles and evaluates arbitrary expression text against a
// small fixed scope: nothing panics, every error is one sentence naming
// the field, and no evaluation allocates much past ExprMemoryLimit.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`inputs.topic + "!"`, `len(steps.a.output)`, `steps.a.output[0] * 2`, `map(inputs.tags, upper(#))`,
		`len(repeat(repeat("x", 100000), 100000))`, `reduce(1..40, #acc + #acc, "x")`, `map(1..100000, 1..100000)`,
		`join(map(1..400000, inputs.topic), "")`, `toJSON(map(1..400000, inputs.topic))`, `string(1..1000)`,
		`replace(repeat("x", 10000), "x", repeat("y", 20000))`, `split(repeat("ab", 1000), "")`, `1..1000000000`,
		`let s = inputs.topic + inputs.topic; s + s`, `fromJSON(toJSON({"a": [1, 2, {"b": nil}]}))`, `toBase64(inputs.topic)`,
		`keys(steps.a.output)`, `toPairs({"a": 1})`, `fromPairs([["a", 1]])`, `sortBy(1..100, -#)`, `groupBy(1..100, # % 3)`,
		`item + index`, `inputs.n > 2 ? "yes" : "no"`, `"}}"`, `now().Year()`, `date("2024-01-01").Unix()`,
		strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101), strings.Repeat("!", 101) + "true",
		strings.Repeat("not ", 101) + "true", strings.Repeat("2**", 101) + "1", strings.Repeat("let x = 1; ", 101) + "x",
		strings.Repeat("if true { 1 } else ", 101) + "{ 2 }", strings.Repeat("{a: ", 101) + "1" + strings.Repeat("}", 101),
		`"` + strings.Repeat("(", 200) + `"`, strings.Repeat("-", MaxExprLen+1) + "1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c := newCompiler([]*Input{{Name: "topic", Type: "string"}, {Name: "n", Type: "integer"}, {Name: "tags", Type: "list"}}, []string{"a", "b"})
		tmpl, errs := c.compileTemplate(src, "fuzz", Pos{1, 1}, true, true)
		for _, e := range errs {
			checkSentence(t, e.msg)
		}
		if errs != nil {
			return
		}
		scope := &Scope{
			Inputs: map[string]any{"topic": "go", "n": 3, "tags": []any{"x", "y"}},
			Steps:  map[string]StepState{"a": {Output: []any{1.0, "two", map[string]any{"k": "v"}}, Status: "completed"}, "b": {Status: "skipped"}},
			Item:   "it", Index: 1,
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v, err := tmpl.Eval(scope)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 4*ExprMemoryLimit {
			t.Fatalf("${{ %s }} allocated %d MiB", src, got>>20)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error %q does not name the field", err)
			}
			checkSentence(t, err.Error())
			return
		}
		_ = FormatValue(v)
	})
}

// checkSentence fails on an error text that is no sentence for a person:
// empty, several lines, or a Go crash turned into text.
func checkSentence(t *testing.T, msg string) {
	t.Helper()
	switch {
	case strings.TrimSpace(msg) == "":
		t.Fatal("empty error")
	case strings.Contains(msg, "\n"):
		t.Fatalf("error of several lines: %q", msg)
	case strings.Contains(msg, "runtime error:"), strings.Contains(msg, "internal error"), strings.Contains(msg, "goroutine "):
		t.Fatalf("a crash reached the message: %q", msg)
	}
}
