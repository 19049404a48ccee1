package flowspec

import (
	"reflect"
	"strings"
	"testing"
)

// compileFor compiles src as a template field of a small flow with inputs
// topic (string), n (integer), tags (list) and steps a, b.
func compileFor(t *testing.T, src string, bare, allowItem bool) (*Template, []exprError) {
	t.Helper()
	c := newCompiler([]*Input{
		{Name: "topic", Type: "string"}, {Name: "n", Type: "integer"}, {Name: "tags", Type: "list"},
	}, []string{"a", "b", "outline"})
	return c.compileTemplate(src, "test", Pos{1, 1}, bare, allowItem)
}

var testScope = &Scope{
	Inputs: map[string]any{"topic": "go", "n": 3, "tags": []any{"x", "y"}},
	Steps: map[string]StepState{
		"a":       {Output: map[string]any{"k": "v", "n": 2.0}, Status: "completed"},
		"b":       {Output: 2.5, Status: "skipped"},
		"outline": {Output: "- one\n- two", Status: "completed"},
	},
	RunID: "kr-1", FlowName: "demo", Item: "it", Index: 4,
}

func TestTemplateEval(t *testing.T) {
	tests := []struct {
		src       string
		bare      bool
		allowItem bool
		want      any
	}{
		{src: "plain text", want: "plain text"},
		{src: "", want: ""},
		{src: "${{ inputs.n }}", want: 3},
		{src: "${{ inputs.n * 2 }} items", want: "6 items"},
		{src: "${{ inputs.tags }}", want: []any{"x", "y"}},
		{src: "tags: ${{ inputs.tags }}", want: `tags: ["x","y"]`},
		{src: "${{ steps.a.output }}", want: map[string]any{"k": "v", "n": 2.0}},
		{src: "out=${{ steps.a.output }}", want: `out={"k":"v","n":2}`},
		{src: "${{ steps.a.output.n }} and ${{ steps.b.output }}", want: "2 and 2.5"},
		{src: "${{ steps.b.status }}", want: "skipped"},
		{src: "${{ run.id }}/${{ flow.name }}", want: "kr-1/demo"},
		{src: "${{ nil }}|", want: "|"},
		{src: `${{ "}}" + inputs.topic }}`, want: "}}go"},
		{src: `${{ '}}' }}`, want: "}}"},
		{src: "${{ {\"a\": {\"b\": 1}} }}", want: map[string]any{"a": map[string]any{"b": 1}}},
		{src: "${{{\"a\": 1}}}", want: map[string]any{"a": 1}},
		{src: "${{ item }}#${{ index }}", allowItem: true, want: "it#4"},
		{src: "inputs.n > 2", bare: true, want: true},
		{src: "${{ inputs.n > 5 }}", bare: true, want: false},
		{src: "  ${{ inputs.tags }}  ", bare: true, want: []any{"x", "y"}},
		{src: "${{ inputs.topic }}\n", want: "go\n"},
		{src: "${{ 1.0 * 4 }}", want: 4.0},
		{src: "n=${{ 1.0 * 4 }}", want: "n=4"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tmpl, errs := compileFor(t, tt.src, tt.bare, tt.allowItem)
			if errs != nil {
				t.Fatalf("compile: %v", errs)
			}
			got, err := tmpl.Eval(testScope)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestTemplateCompileErrors(t *testing.T) {
	tests := []struct {
		src     string
		bare    bool
		wantOff int
		want    string
	}{
		{src: "${{ steps.outlin.output }}", wantOff: 10, want: `unknown step "outlin"; did you mean "outline"?`},
		{src: "x ${{ inputs.topc }}", wantOff: 13, want: `unknown input "topc"; did you mean "topic"?`},
		{src: "${{ input.topic }}", wantOff: 4, want: `unknown name "input"; did you mean "inputs"?`},
		{src: "${{ item }}", wantOff: 4, want: "item is only defined in a step with foreach"},
		{src: "${{ 1 + }}", want: "unexpected token"},
		{src: "${{ inputs.topic", want: "${{ is not closed"},
		{src: `${{ "abc }}`, want: "quoted string inside ${{ is not closed"},
		{src: "${{ }}", want: "is empty"},
		{src: "a ${{ inputs.n }} == 1", bare: true, want: "write one expression"},
		{src: "${{ steps.a.outptu }}", want: "outptu"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, errs := compileFor(t, tt.src, tt.bare, false)
			if len(errs) == 0 {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(errs[0].msg, tt.want) {
				t.Errorf("error %q does not contain %q", errs[0].msg, tt.want)
			}
			if tt.wantOff != 0 && errs[0].off != tt.wantOff {
				t.Errorf("offset %d, want %d", errs[0].off, tt.wantOff)
			}
		})
	}
}

func TestTemplateBool(t *testing.T) {
	tests := []struct {
		src     string
		want    bool
		wantErr string
	}{
		{src: "inputs.n == 3", want: true},
		{src: "steps.b.status == 'completed'", want: false},
		{src: "nil", want: false},
		{src: "inputs.topic", wantErr: `test: ${{ inputs.topic }} gave the string "go", not true or false`},
	}
	for _, tt := range tests {
		tmpl, errs := compileFor(t, tt.src, true, false)
		if errs != nil {
			t.Fatalf("%s: %v", tt.src, errs)
		}
		got, err := tmpl.Bool(testScope)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: Bool = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
	var none *Template
	if ok, err := none.Bool(testScope); !ok || err != nil {
		t.Errorf("a nil condition is %v, %v; want true", ok, err)
	}
}

func TestTemplateEvalErrorNamesFieldAndExpression(t *testing.T) {
	tmpl, errs := compileFor(t, "x ${{ steps.a.output.k + 1 }}", false, false)
	if errs != nil {
		t.Fatal(errs)
	}
	_, err := tmpl.Render(testScope)
	if err == nil {
		t.Fatal("adding a string and a number gives no error")
	}
	if want := "test: evaluating ${{ steps.a.output.k + 1 }} failed: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestTemplateConcurrentEval(t *testing.T) {
	tmpl, errs := compileFor(t, "${{ inputs.topic }}-${{ index }}", false, true)
	if errs != nil {
		t.Fatal(errs)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			s, err := tmpl.Render(&Scope{Inputs: map[string]any{"topic": "t"}, Index: i})
			if err != nil {
				s = err.Error()
			}
			done <- s
		}(i)
	}
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		seen[<-done] = true
	}
	for i := 0; i < 8; i++ {
		if !seen["t-"+FormatValue(i)] {
			t.Errorf("missing t-%d in %v", i, seen)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""}, {"s", "s"}, {true, "true"}, {3, "3"}, {int64(-4), "-4"}, {2.0, "2"}, {2.5, "2.5"},
		{1e20, "1e+20"}, {[]any{"a", 1}, `["a",1]`}, {map[string]any{"b": "<x>", "a": 1}, `{"a":1,"b":"<x>"}`},
		{[]string{"x"}, `["x"]`},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.v); got != tt.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestLiteralTemplate(t *testing.T) {
	tmpl, errs := compileFor(t, "no placeholders {{ here }} $ {", false, false)
	if errs != nil {
		t.Fatal(errs)
	}
	if !tmpl.IsLiteral() {
		t.Error("IsLiteral is false")
	}
	v, err := tmpl.Eval(nil)
	if err != nil || v != "no placeholders {{ here }} $ {" {
		t.Errorf("Eval = %#v, %v", v, err)
	}
}
