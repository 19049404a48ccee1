package flowspec

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Flow {
	t.Helper()
	f, err := Parse("test.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func ids(steps []*Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.ID
	}
	return out
}

// diamond: a → b, a → c, b,c → d; e independent; f reads a only inside if.
const diamond = `name: diamond
steps:
  d:
    kind: checkpoint
    value: ${{ steps.b.output }}${{ steps.c.output }}
  b:
    kind: checkpoint
    value: ${{ steps.a.output }}
  e:
    kind: checkpoint
    value: alone
  c:
    kind: checkpoint
    needs: [a]
    value: c
  a:
    kind: checkpoint
    value: a
  f:
    kind: checkpoint
    if: steps.a.output == "a"
    value: f
`

func TestGraph(t *testing.T) {
	f := mustParse(t, diamond)
	if got, want := ids(f.Topo()), []string{"e", "a", "b", "c", "d", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Topo = %v, want %v", got, want)
	}
	if got, want := f.StepIDs(), []string{"d", "b", "e", "c", "a", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StepIDs = %v, want %v", got, want)
	}
	deps := map[string][]string{"d": {"b", "c"}, "b": {"a"}, "e": nil, "c": {"a"}, "a": nil, "f": {"a"}}
	for id, want := range deps {
		if got := f.Step(id).Deps; !reflect.DeepEqual(got, want) {
			t.Errorf("%s.Deps = %v, want %v", id, got, want)
		}
	}
	if got, want := f.Dependents("a"), []string{"b", "c", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dependents(a) = %v, want %v", got, want)
	}
	if got := f.Dependents("d"); len(got) != 0 {
		t.Errorf("Dependents(d) = %v, want none", got)
	}
	tests := []struct {
		ids  []string
		want map[string]bool
	}{
		{[]string{"a"}, map[string]bool{"b": true, "c": true, "d": true, "f": true}},
		{[]string{"b"}, map[string]bool{"d": true}},
		{[]string{"b", "c"}, map[string]bool{"d": true}},
		{[]string{"a", "b"}, map[string]bool{"c": true, "d": true, "f": true}},
		{[]string{"e"}, map[string]bool{}},
		{nil, map[string]bool{}},
	}
	for _, tt := range tests {
		if got := f.Descendants(tt.ids...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Descendants(%v) = %v, want %v", tt.ids, got, tt.want)
		}
	}
	if got := f.Step("f").IfOnlyDeps; !reflect.DeepEqual(got, map[string]bool{"a": true}) {
		t.Errorf("f.IfOnlyDeps = %v", got)
	}
	if got := f.Step("d").IfOnlyDeps; got != nil {
		t.Errorf("d.IfOnlyDeps = %v, want nil", got)
	}
	if f.Step("nope") != nil {
		t.Error("Step(nope) is not nil")
	}
}

func TestIfOnlyDepsNotWhenAlsoNeeded(t *testing.T) {
	f := mustParse(t, `name: x
steps:
  a: {kind: checkpoint, value: a}
  b: {kind: checkpoint, value: b}
  c:
    kind: checkpoint
    needs: [a]
    if: steps.a.status == "completed" && steps.b.output == "b"
    value: ${{ steps.b.output }}
  d:
    kind: checkpoint
    needs: [a]
    if: steps.a.output == "a"
    value: d
`)
	if got := f.Step("c").IfOnlyDeps; got != nil {
		t.Errorf("c.IfOnlyDeps = %v, want nil (a is needed, b is read outside if)", got)
	}
	if got := f.Step("d").IfOnlyDeps; got != nil {
		t.Errorf("d.IfOnlyDeps = %v, want nil (a is in needs)", got)
	}
}

func TestCyclesReportedOncePerCycle(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`name: c
steps:
  x: {kind: checkpoint, value: "${{ steps.z.output }}"}
  y: {kind: checkpoint, value: "${{ steps.x.output }}"}
  z: {kind: checkpoint, value: "${{ steps.y.output }}", needs: [w]}
  w: {kind: checkpoint, value: "${{ steps.z.output }}"}
`), Options{})
	if err == nil {
		t.Fatal("a cyclic flow loads")
	}
	got := err.Error()
	want := "c.yaml:3:3: steps depend on each other in a cycle: x → y → z → x; remove one of these references\n" +
		"c.yaml:5:3: steps depend on each other in a cycle: z → w → z; remove one of these references"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGraphOutput(t *testing.T) {
	f := mustParse(t, diamond)
	m := f.Mermaid()
	for _, want := range []string{"flowchart TD\n", "a --> b\n", "a --> c\n", "b --> d\n", "c --> d\n", "a --> f\n", `e["e (checkpoint)"]`} {
		if !strings.Contains(m, want) {
			t.Errorf("Mermaid lacks %q:\n%s", want, m)
		}
	}
	if strings.Count(m, "-->") != 5 {
		t.Errorf("Mermaid has %d edges, want 5:\n%s", strings.Count(m, "-->"), m)
	}
	d := f.DOT()
	for _, want := range []string{`digraph "diamond" {`, `"a" -> "b";`, `"c" -> "d";`, `"e" [label="e (checkpoint)"];`} {
		if !strings.Contains(d, want) {
			t.Errorf("DOT lacks %q:\n%s", want, d)
		}
	}
}

func TestMermaidEndKeyword(t *testing.T) {
	f := mustParse(t, "name: x\nsteps:\n  start: {kind: checkpoint, value: a}\n  end: {kind: checkpoint, value: \"${{ steps.start.output }}\"}\n")
	if m := f.Mermaid(); !strings.Contains(m, "start --> end_\n") {
		t.Errorf("Mermaid does not rename the end keyword:\n%s", m)
	}
}

// Fingerprints are hashed on first use; steps of one flow run their
// foreach items at once, so concurrent first uses agree (and -race checks
// them).
func TestFingerprintOnFirstUse(t *testing.T) {
	t.Parallel()
	src := "name: x\nsteps:\n  a: {kind: checkpoint, value: x}\n  b: {kind: llm, foreach: '${{ [1, 2] }}', prompt: 'p ${{ item }} ${{ steps.a.output }}'}\n"
	want := mustParse(t, src).Step("b")
	wantFP, wantItems := want.Fingerprint(), want.Items.Fingerprint()
	for _, lazy := range []bool{false, true} {
		f, err := Parse("x.yaml", []byte(src), Options{Lazy: lazy})
		if err != nil {
			t.Fatal(err)
		}
		b := f.Step("b")
		got := make(chan [2]string, 8)
		for range cap(got) {
			go func() { got <- [2]string{b.Fingerprint(), b.Items.Fingerprint()} }()
		}
		for range cap(got) {
			if g := <-got; g != [2]string{wantFP, wantItems} || len(g[0]) != 64 || g[0] == g[1] {
				t.Fatalf("lazy %v: fingerprints %q, want %q and %q", lazy, g, wantFP, wantItems)
			}
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := `name: fp
description: DESC
defaults: {model: fast, retry: {attempts: 2}}
steps:
  a:
    kind: llm
    description: STEPDESC
    prompt: PROMPT
`
	fp := func(src string) string {
		t.Helper()
		return mustParse(t, src).Step("a").Fingerprint()
	}
	orig := fp(base)
	if orig != fp(base) {
		t.Fatal("fingerprint is not stable")
	}
	same := map[string]string{
		"step description":     strings.Replace(base, "STEPDESC", "other", 1),
		"flow description":     strings.Replace(base, "DESC\n", "other\n", 1),
		"comment and layout":   "# a comment\n" + strings.Replace(base, "prompt: PROMPT", "prompt:   \"PROMPT\"", 1),
		"defaults written out": strings.Replace(base, "kind: llm\n", "kind: llm\n    model: fast\n    retry: {attempts: 2, backoff: 1s}\n", 1),
	}
	for name, src := range same {
		if got := fp(src); got != orig {
			t.Errorf("%s changed the fingerprint", name)
		}
	}
	differ := map[string]string{
		"prompt":         strings.Replace(base, "PROMPT", "PROMPT2", 1),
		"default model":  strings.Replace(base, "model: fast", "model: smart", 1),
		"step model":     strings.Replace(base, "kind: llm\n", "kind: llm\n    model: other\n", 1),
		"retry attempts": strings.Replace(base, "attempts: 2", "attempts: 3", 1),
		"temperature":    strings.Replace(base, "kind: llm\n", "kind: llm\n    temperature: 0.5\n", 1),
		"timeout":        strings.Replace(base, "kind: llm\n", "kind: llm\n    timeout: 1m\n", 1),
		"output json":    strings.Replace(base, "kind: llm\n", "kind: llm\n    output: json\n", 1),
		"system":         strings.Replace(base, "kind: llm\n", "kind: llm\n    system: be brief\n", 1),
		"schema":         strings.Replace(base, "kind: llm\n", "kind: llm\n"+nameSchema, 1),
		"schema type":    strings.Replace(base, "kind: llm\n", "kind: llm\n"+strings.Replace(nameSchema, "string", "integer", 1), 1),
		"schema_retries": strings.Replace(base, "kind: llm\n", "kind: llm\n"+nameSchema+"    schema_retries: 0\n", 1),
	}
	seen := map[string]string{orig: "original"}
	for name, src := range differ {
		got := fp(src)
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the same fingerprint as %s", name, prev)
		}
		seen[got] = name
	}
}

func TestInputRefs(t *testing.T) {
	f := mustParse(t, `name: x
inputs:
  b: {type: string, default: x}
  a: {type: string, default: x}
  c: {type: boolean, default: false}
steps:
  s:
    kind: checkpoint
    if: inputs.c
    run: echo ${{ inputs.b }}
    env: {A: "${{ inputs.a }}"}
    stdin: ${{ inputs.b }}
  t: {kind: checkpoint, value: plain}
`)
	if got, want := f.Step("s").InputRefs, []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("InputRefs = %v, want %v", got, want)
	}
	if got := f.Step("t").InputRefs; got != nil {
		t.Errorf("InputRefs of t = %v, want nil", got)
	}
}

// TestItemBasis: what an item of a foreach step depends on besides its
// value leaves out exactly what only foreach reads.
func TestItemBasis(t *testing.T) {
	const head = `name: x
inputs:
  xs: {type: list, default: [a]}
  ys: {type: list, default: [b]}
  tone: {type: string, default: plain}
steps:
  list: {kind: checkpoint, value: "${{ [1, 2] }}"}
  ctx: {kind: checkpoint, value: c}
  pre: {kind: checkpoint, value: p}
`
	tests := []struct {
		name   string
		step   string
		steps  []string
		inputs []string
		index  bool
	}{
		{name: "foreach over an input", step: `foreach: inputs.xs, run: 'echo ${{ item }}'`},
		{name: "the list input read again", step: `foreach: inputs.xs, run: 'echo ${{ item }} ${{ inputs.xs }}'`, inputs: []string{"xs"}},
		{name: "another input", step: `foreach: inputs.xs, run: 'echo ${{ item }} ${{ inputs.tone }}'`, inputs: []string{"tone"}},
		{name: "foreach over a step", step: `foreach: steps.list.output, run: 'echo ${{ item }}'`},
		{name: "a step read by the command", step: `foreach: steps.list.output, run: 'echo ${{ steps.ctx.output }}'`, steps: []string{"ctx"}},
		{name: "needs", step: `foreach: steps.list.output, needs: [pre], run: 'echo ${{ item }}'`, steps: []string{"pre"}},
		{name: "needs the list step too", step: `foreach: steps.list.output, needs: [list], run: 'echo ${{ item }}'`, steps: []string{"list"}},
		{name: "if", step: `foreach: inputs.xs, if: 'inputs.tone != ""', run: 'echo ${{ item }}'`, inputs: []string{"tone"}},
		{name: "index", step: `foreach: inputs.xs, run: 'echo ${{ index }}'`, index: true},
		{name: "item.index is not index", step: `foreach: inputs.xs, run: 'echo ${{ item.index }}'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, head+"  s: {kind: checkpoint, "+tt.step+"}\n").Step("s")
			b := s.Items
			if b == nil {
				t.Fatal("a foreach step has no Items")
			}
			if !reflect.DeepEqual(b.Steps, tt.steps) || !reflect.DeepEqual(b.Inputs, tt.inputs) || b.Index != tt.index {
				t.Errorf("Items = steps %v inputs %v index %v, want %v %v %v", b.Steps, b.Inputs, b.Index, tt.steps, tt.inputs, tt.index)
			}
			if len(b.Fingerprint()) != 64 || b.Fingerprint() == s.Fingerprint() {
				t.Errorf("item fingerprint %q (step's %q)", b.Fingerprint(), s.Fingerprint())
			}
		})
	}
	// Changing only what foreach reads keeps the item fingerprint.
	a := mustParse(t, head+"  s: {kind: llm, model: m, foreach: inputs.xs, prompt: 'say ${{ item }}'}\n").Step("s")
	b := mustParse(t, head+"  s: {kind: llm, model: m, foreach: steps.list.output, prompt: 'say ${{ item }}'}\n").Step("s")
	c := mustParse(t, head+"  s: {kind: llm, model: m, foreach: inputs.ys, prompt: 'say ${{ item }}!'}\n").Step("s")
	if a.Items.Fingerprint() != b.Items.Fingerprint() || a.Fingerprint() == b.Fingerprint() {
		t.Errorf("a new foreach changed the item fingerprint (or not the step's)")
	}
	if a.Items.Fingerprint() == c.Items.Fingerprint() {
		t.Errorf("a new prompt kept the item fingerprint")
	}
	if mustParse(t, head).Step("ctx").Items != nil {
		t.Errorf("a step without foreach has Items")
	}
}

// The heap that orders ready steps gives them back smallest first.
func TestIntHeap(t *testing.T) {
	t.Parallel()
	in := []int{5, 3, 9, 0, 3, 7, 1, 8, 2, 6, 4, 11, 10}
	var h intHeap
	for _, x := range in {
		h.push(x)
	}
	want := slices.Sorted(slices.Values(in))
	var got []int
	for len(h) > 0 {
		got = append(got, h.pop())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
}

const nameSchema = "    schema: {type: object, properties: {name: {type: string}}, required: [name]}\n"

// The layout of an llm step's schema, and schema_retries written out at
// its default, leave its fingerprint as it is (TestFingerprint: a change
// of either changes it).
func TestFingerprintSchemaLayout(t *testing.T) {
	fp := func(body string) string {
		t.Helper()
		return mustParse(t, "name: fp\nsteps:\n  a:\n    kind: llm\n    prompt: Who?\n"+body).Step("a").Fingerprint()
	}
	flow := fp(nameSchema)
	if block := fp("    schema:\n      required: [name]\n      type: object\n      properties:\n        name:\n          type: string\n"); block != flow {
		t.Error("the same schema written in block style changed the fingerprint")
	}
	if explicit := fp(nameSchema + "    schema_retries: 2\n"); explicit != flow {
		t.Error("schema_retries: 2, the default, written out changed the fingerprint")
	}
}
