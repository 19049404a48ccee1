package flowspec

import (
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// hostileScope gives expressions a 1 KiB string (inputs.topic) and a
// 4 MiB one (steps.a.output) to multiply.
var hostileScope = &Scope{
	Inputs: map[string]any{"topic": strings.Repeat("k", 1<<10), "n": 3, "tags": []any{"x"}},
	Steps:  map[string]StepState{"a": {Output: strings.Repeat("o", 4<<20), Status: "completed"}},
}

// TestExprMemoryBound: expressions that would build far more than
// ExprMemoryLimit fail with the clear message, and allocate only about
// the bound on the way. Not parallel: it measures the process's
// allocations.
func TestExprMemoryBound(t *testing.T) {
	tests := []struct{ name, src string }{
		{"issue repro", `${{ len(repeat(repeat("x", 100000), 100000)) }}`},
		{"nested repeat", `${{ repeat(repeat("x", 10000), 20000) }}`},
		{"repeat of a step output", `${{ repeat(steps.a.output, 100) }}`},
		{"big range", `${{ len(1..1000000000) }}`},
		{"map over big range", `${{ map(1..100000, 1..100000) }}`},
		{"map of repeat", `${{ map(1..100000, repeat("x", 10000)) }}`},
		{"doubling concatenation", `${{ len(reduce(1..40, #acc + #acc, "x")) }}`},
		{"typed doubling", `${{ let s0 = inputs.topic; let s1 = s0 + s0; let s2 = s1 + s1; let s3 = s2 + s2; let s4 = s3 + s3; let s5 = s4 + s4; let s6 = s5 + s5; let s7 = s6 + s6; let s8 = s7 + s7; let s9 = s8 + s8; let s10 = s9 + s9; let s11 = s10 + s10; let s12 = s11 + s11; let s13 = s12 + s12; let s14 = s13 + s13; let s15 = s14 + s14; let s16 = s15 + s15; len(s16 + s16 + s16 + s16) }}`},
		{"concatenation in a loop", `${{ len(map(1..100, steps.a.output + "!")) }}`},
		{"replace", `${{ replace(repeat("x", 10000), "x", repeat("y", 20000)) }}`},
		{"join", `${{ join(map(1..400000, inputs.topic), "") }}`},
		{"toJSON", `${{ toJSON(map(1..400000, inputs.topic)) }}`},
		{"string", `${{ string(map(1..400000, inputs.topic)) }}`},
		{"upper in a loop", `${{ map(1..100000, upper(inputs.topic)) }}`},
		{"split", `${{ split(steps.a.output, "") }}`},
		{"base64 in a loop", `${{ map(1..100, toBase64(steps.a.output)) }}`},
		{"aliased result", `${{ map(1..400000, inputs.topic) }}`},
		{"aliased result rendered", `x ${{ map(1..400000, inputs.topic) }}`},
		{"groupBy", `${{ len(groupBy(1..3900000, #)) }}`},
		{"map boxing", `${{ len(map(1..1900000, #)) }}`},
		{"sortBy", `${{ len(sortBy(1..1900000, -#)) }}`},
		{"filter", `${{ filter(1..1900000, # > 0) }}`},
		{"concat doubling", `${{ len(reduce(1..26, concat(#acc, #acc), [1])) }}`},
		{"flatten", `${{ len(flatten(map(1..2000, 1..2000))) }}`},
		{"flatten of a list nested in itself", `${{ len(flatten(reduce(1..30, [#acc, #acc], [1]))) }}`},
		{"built list chosen", `${{ inputs.n > 0 ? map(1..400000, inputs.topic) : inputs.tags }}`},
		{"built list defaulted", `${{ nil ?? map(1..400000, inputs.topic) }}`},
		{"built list in a variable", `${{ let x = map(1..400000, inputs.topic); x }}`},
		{"part of a built list", `${{ map(1..400000, inputs.topic)[1:] }}`},
		{"element of a built list", `${{ first([map(1..400000, inputs.topic)]) }}`},
		{"many placeholders", "${{ steps.a.output }}" + strings.Repeat("${{steps.a.output}}", 40)},
		// Each toJSON doubles text full of quotes: sized by its input's
		// length, six levels came to 14 times the limit.
		{"toJSON of toJSON", `${{ len(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(repeat("\"", 1000000)))))))) }}`},
		{"toJSON of control characters", `${{ len(toJSON(toJSON(toJSON(repeat("\u0001", 4000000))))) }}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, errs := compileFor(t, tt.src, false, false)
			if errs != nil {
				t.Fatalf("compile: %v", errs)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := tmpl.Eval(hostileScope)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("Eval succeeded; want the memory limit")
			}
			if !errors.Is(err, ErrExprMemory) {
				t.Fatalf("error %q does not say the memory limit", err)
			}
			want := "test: ${{ " + strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(tt.src, "${{"), "}}"))
			if !strings.HasPrefix(err.Error(), "test: ") || !strings.Contains(err.Error(), "would use more than 64MiB") {
				t.Errorf("error = %q, want it to start %q and name the limit", err, want)
			}
			// Allocations, garbage included: the bound, what one step
			// past it may take, and the VM's bookkeeping.
			if got := after.TotalAlloc - before.TotalAlloc; got > 3*ExprMemoryLimit {
				t.Errorf("allocated %d MiB, want at most %d MiB", got>>20, 3*ExprMemoryLimit>>20)
			}
		})
	}
}

// TestExprMemoryMessage: the whole sentence, with a long expression cut.
func TestExprMemoryMessage(t *testing.T) {
	t.Parallel()
	long := `${{ repeat(repeat("x", 100000), 100000) + "` + strings.Repeat("y", 200) + `" }}`
	tmpl, errs := compileFor(t, long, false, false)
	if errs != nil {
		t.Fatal(errs)
	}
	_, err := tmpl.Render(testScope)
	want := `test: ${{ repeat(repeat("x", 100000), 100000) + "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy… }} would use more than 64MiB of memory, the limit for one expression; expressions are for small values: build large text in a checkpoint's run: command`
	if err == nil || err.Error() != want {
		t.Errorf("error =\n%v\nwant\n%s", err, want)
	}
}

// wideInt is an expected int too big for a 32-bit int: its case runs only
// where int has 64 bits.
type wideInt int64

// TestExprWithinBound: ordinary work on large values still succeeds; the
// accounting must not refuse what fits.
func TestExprWithinBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{`${{ len(steps.a.output + "!") }}`, 4<<20 + 1},
		{`${{ len(repeat("ab", 1000000)) }}`, 2000000},
		{`${{ len(join(split(steps.a.output, "o", 1000), ",")) }}`, 4 << 20},
		{`${{ len(upper(steps.a.output)) }}`, 4 << 20},
		{`${{ len(toJSON(1..1000)) }}`, 6895},
		{`${{ sum(map(1..100000, # * 2)) }}`, wideInt(10000100000)},
		{`${{ len(replace(inputs.topic, "k", "kk")) }}`, 2048},
		{`${{ len(reduce(1..10, #acc + #acc, "x")) }}`, 1024},
		{`${{ inputs.n + 1 }}`, 4},
		{`${{ inputs.topic + 1 }}`, nil}, // string + int is an evaluation error, not a memory one
		{`${{ "memory budget exceeded" + inputs.n }}`, nil},
		{`${{ len(steps.a.output) + len(steps.a.output) }}`, 8 << 20},
		{`${{ len(string(steps.a.output)) }}`, 4 << 20},
		{`${{ len(groupBy(1..100000, # % 7)) }}`, 7},
		{`${{ len(map(filter(1..500000, # % 2 == 0), # * 2)) }}`, 250000},
		{`${{ len(flatten([[1, 2], [3, [4]], 5])) }}`, 5},
		{`${{ len(concat(1..1000, 1..1000)) }}`, 2000},
		{`${{ first(sort(reverse(1..1000))) }}`, 1},
		{`${{ sum(1..100000000) }}`, wideInt(5000000050000000)}, // the optimizer's formula: no list is made
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			if w, ok := tt.want.(wideInt); ok {
				if strconv.IntSize < 64 {
					t.Skipf("%d does not fit in a %d-bit int", w, strconv.IntSize)
				}
				tt.want = int(w)
			}
			tmpl, errs := compileFor(t, tt.src, false, false)
			if errs != nil {
				t.Fatalf("compile: %v", errs)
			}
			got, err := tmpl.Eval(hostileScope)
			if tt.want == nil {
				if err == nil || errors.Is(err, ErrExprMemory) {
					t.Fatalf("Eval = %v, %v; want an evaluation error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestExprTooManyNodes: an absurdly long expression is refused at load
// with a sentence, not expr's internal wording, and without the whole
// expression pasted into the message.
func TestExprTooManyNodes(t *testing.T) {
	t.Parallel()
	src := "${{ " + strings.Repeat("1 + ", 12000) + "1 }}"
	_, errs := compileFor(t, src, false, false)
	if len(errs) != 1 {
		t.Fatalf("errs = %v", errs)
	}
	want := "in ${{ 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 +… }}: the expression is too long (more than 10000 parts); split the work across steps"
	if errs[0].msg != want {
		t.Errorf("msg =\n%s\nwant\n%s", errs[0].msg, want)
	}
}

// TestHostileExpressionLoads: loading folds constants but runs no
// builtin, so validate accepts the flow at once; its step fails on run.
// Not parallel: it measures the process's allocations.
func TestHostileExpressionLoads(t *testing.T) {
	src := "name: hostile\nsteps:\n  big:\n    kind: checkpoint\n    value: ${{ len(repeat(repeat(\"x\", 100000), 100000)) + len(1..1000000000) }}\n"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Parse("hostile.yaml", []byte(src), Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("loading allocated %d MiB", got>>20)
	}
	if _, err := f.Steps[0].Checkpoint.Value.Eval(&Scope{}); !errors.Is(err, ErrExprMemory) {
		t.Errorf("Eval: %v, want the memory limit", err)
	}
}

// TestExprRuntimeErrorWords: Go's words for a crash do not reach the user.
func TestExprRuntimeErrorWords(t *testing.T) {
	t.Parallel()
	tmpl, errs := compileFor(t, "${{ inputs.n % 0 }}", false, false)
	if errs != nil {
		t.Fatal(errs)
	}
	_, err := tmpl.Eval(testScope)
	if want := "test: evaluating ${{ inputs.n % 0 }} failed: the right side of % is 0 (1:11)"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestExprScopeReadsUnmeasured: a result that can only be data the scope
// already holds is returned as it is, however long its text, because the
// expression built nothing; a result the program may have built is
// measured even when it only wraps such data.
func TestExprScopeReadsUnmeasured(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("d", 1<<20)
	big := make([]any, 80) // 80 MiB as text, 1 MiB in memory
	for i := range big {
		big[i] = long
	}
	scope := &Scope{
		Inputs: map[string]any{"topic": "t", "n": 3, "tags": big},
		Steps:  map[string]StepState{"a": {Output: map[string]any{"list": big}, Status: "completed"}},
		Item:   map[string]any{"list": big},
	}
	tests := []struct {
		src      string
		measured bool
	}{
		{`${{ inputs.tags }}`, false},
		{`${{ steps.a.output }}`, false},
		{`${{ steps.a.output.list }}`, false},
		{`${{ steps.a.output?.list }}`, false},
		{`${{ steps.a.output["list"][1:] }}`, false},
		{`${{ inputs.n > 1 ? steps.a.output.list : inputs.tags }}`, false},
		{`${{ steps.b.output ?? inputs.tags }}`, false},
		{`${{ get(steps.a.output, "list") }}`, false},
		{`${{ item.list }}`, false},
		{`${{ [inputs.tags] }}`, true},
		{`${{ {"a": steps.a.output} }}`, true},
		{`${{ let x = inputs.tags; x }}`, true},
		{`${{ filter(inputs.tags, true) }}`, true},
		{`${{ first([inputs.tags]) }}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			tmpl, errs := compileFor(t, tt.src, false, true)
			if errs != nil {
				t.Fatalf("compile: %v", errs)
			}
			_, err := tmpl.Eval(scope)
			if got := errors.Is(err, ErrExprMemory); got != tt.measured || (err != nil && !got) {
				t.Errorf("Eval: %v; want the memory limit: %v", err, tt.measured)
			}
		})
	}
}

// toJSON of text writes what encoding/json writes, in a string of the
// length the sizer counted.
func TestQuoteJSONAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "line\nbreak\r\ttab", "\x00\x01\x1f\x7f",
		"<html> & co", "\u2028 and \u2029", "bad \xff byte \xc3", "héllo wörld 日本", strings.Repeat(`\"`, 100),
	} {
		want, _ := json.MarshalIndent(s, "", "  ")
		got := quoteJSON(s)
		if got != string(want) {
			t.Errorf("quoteJSON(%q) = %s, want %s", s, got, want)
		}
		if n := (&textSizer{indent: true}).str(s); n != len(want) {
			t.Errorf("the sizer counts %d bytes for %q, encoding/json writes %d", n, s, len(want))
		}
	}
}
