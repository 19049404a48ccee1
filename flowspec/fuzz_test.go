package flowspec

import (
	"os"
	"path/filepath"
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
