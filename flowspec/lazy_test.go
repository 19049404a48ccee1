package flowspec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// stepTemplates is every template of a step, in a fixed order, named.
func stepTemplates(s *Step) map[string]*Template {
	out := map[string]*Template{"if": s.If, "foreach": s.Foreach}
	if b := s.LLM; b != nil {
		out["system"], out["prompt"] = b.System, b.Prompt
		for i, m := range b.Messages {
			out[fmt.Sprintf("message %d", i)] = m.Content
		}
	}
	if b := s.Checkpoint; b != nil {
		out["run"], out["stdin"], out["dir"], out["value"] = b.Run, b.Stdin, b.Dir, b.Value
		for _, e := range b.Env {
			out["env "+e.Name] = e.Value
		}
	}
	if b := s.Wait; b != nil {
		out["question"] = b.Question
	}
	return out
}

// chainSource is a chain of n checkpoint value steps, as the engine's
// benchmarks make.
func chainSource(n int) []byte {
	var sb strings.Builder
	sb.WriteString("name: chain\nsteps:\n  s0:\n    kind: checkpoint\n    value: ${{ 0 }}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "  s%d:\n    kind: checkpoint\n    value: ${{ steps.s%d.output + 1 }}\n", i, i-1)
	}
	fmt.Fprintf(&sb, "output: ${{ steps.s%d.output }}\n", n-1)
	return []byte(sb.String())
}

// lazyCases are flows that load, with a name: every example, the graph
// test flows, and generated ones.
func lazyCases(t *testing.T) map[string][]byte {
	t.Helper()
	cases := map[string][]byte{
		"chain":  chainSource(50),
		"big":    bigFlow(300),
		"tricky": []byte(trickyFlow),
		"layout": []byte(layoutFlow),
		// An anchor in a step body: the quick reader leaves the file to
		// yaml.v3 only when it comes to that body.
		"anchored": []byte("name: anchored\nsteps:\n  a:\n    kind: checkpoint\n    value: &v x\n  b:\n    kind: checkpoint\n    value: ${{ steps.a.output }}\n"),
	}
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// By its path: a sub-flow is found beside it.
		cases[f] = data
	}
	return cases
}

// layoutFlow lays step bodies out every way the quick reader takes them:
// blank and comment lines inside, between and after bodies (at any
// indentation), literal text holding # lines and blank lines, one-line
// and nested bodies, lists.
const layoutFlow = `name: layout
# a comment
steps:
  # before the first step
  a:
    kind: checkpoint

    # inside a body
    run: |
      echo one
      # not a comment: part of the command

      echo two
# at the margin, between steps
  b: {kind: checkpoint, value: "${{ steps.a.output }}"}

  c:
    kind: llm
    needs:
      - a
      - b
    messages:
      - role: user
        content: "${{ steps.b.output }}"
    retry: {attempts: 2, backoff: 1s}
  # after the last body
output: ${{ steps.c.output }}
# the end
`

// trickyFlow reads steps and inputs every way the format allows.
const trickyFlow = `name: tricky
inputs:
  topic: {type: string, default: go}
  tags: {type: list, default: [a, b]}
  flag: {type: boolean, default: true}
steps:
  first-step:
    kind: checkpoint
    value: ${{ inputs["topic"] }}
  second:
    kind: checkpoint
    if: inputs.flag && steps["first-step"].status == "completed"
    value: '${{ {"a": steps["first-step"]?.output, "steps.x": "inputs.tags", item: 1} }}'
  fan:
    kind: checkpoint
    foreach: inputs.tags
    needs: [second]
    run: echo "${{ item }} ${{ index }} ${{ "it's }}" }}" # steps.second
    env:
      TOPIC: ${{ inputs.topic | upper() }}
  merge:
    kind: llm
    if: '${{ steps.second.status == "skipped" ? true : steps.fan.output != nil }}'
    messages:
      - role: system
        content: "Be brief about ${{ let t = inputs.topic; t }}."
      - role: user
        content: |
          ${{ len(steps.fan.output) }} items, ${{ 1..3 }} range,
          ${{ map(steps.fan.output, {#}) }} and ${{ steps .second. output }}
output: ${{ steps.merge.output }}
`

// TestLazyLoadMatchesFull: a lazily loaded flow has the same steps, graph,
// order, references and fingerprints as a fully loaded one, and its
// templates evaluate to the same values (and the same errors).
func TestLazyLoadMatchesFull(t *testing.T) {
	for name, data := range lazyCases(t) {
		t.Run(name, func(t *testing.T) {
			full, err := Parse(name, data, Options{})
			if err != nil {
				t.Fatalf("full load: %v", err)
			}
			lazy, err := Parse(name, data, Options{Lazy: true})
			if err != nil {
				t.Fatalf("lazy load: %v", err)
			}
			ids := func(ss []*Step) (out []string) {
				for _, s := range ss {
					out = append(out, s.ID)
				}
				return out
			}
			if !reflect.DeepEqual(ids(full.Topo()), ids(lazy.Topo())) {
				t.Errorf("Topo: full %v, lazy %v", ids(full.Topo()), ids(lazy.Topo()))
			}
			if full.Mermaid() != lazy.Mermaid() {
				t.Errorf("graphs differ:\n%s\nvs\n%s", full.Mermaid(), lazy.Mermaid())
			}
			if !reflect.DeepEqual(full.Output.Refs(), lazy.Output.Refs()) {
				t.Errorf("output refs: full %+v, lazy %+v", full.Output.Refs(), lazy.Output.Refs())
			}
			scope := sampleScope(full)
			for i, fs := range full.Steps {
				ls := lazy.Steps[i]
				if fs.ID != ls.ID || fs.Fingerprint() != ls.Fingerprint() || !reflect.DeepEqual(fs.Deps, ls.Deps) ||
					!reflect.DeepEqual(fs.IfOnlyDeps, ls.IfOnlyDeps) || !reflect.DeepEqual(fs.InputRefs, ls.InputRefs) ||
					!sameItemBasis(fs.Items, ls.Items) {
					t.Errorf("step %s differs:\nfull %+v\nlazy %+v", fs.ID, fs, ls)
				}
				if !reflect.DeepEqual(full.Dependents(fs.ID), lazy.Dependents(fs.ID)) {
					t.Errorf("step %s dependents: full %v, lazy %v", fs.ID, full.Dependents(fs.ID), lazy.Dependents(fs.ID))
				}
				lt := stepTemplates(ls)
				for field, ft := range stepTemplates(fs) {
					compareEval(t, fs.ID+" "+field, ft, lt[field], scope)
				}
			}
			compareEval(t, "output", full.Output, lazy.Output, scope)
		})
	}
}

// sampleScope gives every step an output and a status, so that templates
// evaluate (or fail the same way).
func sampleScope(f *Flow) *Scope {
	sc := &Scope{Inputs: map[string]any{}, Steps: map[string]StepState{}, RunID: "kr-lazy", FlowName: f.Name, Item: "x", Index: 1}
	for _, in := range f.Inputs {
		sc.Inputs[in.Name] = in.Default
	}
	for i, s := range f.Steps {
		sc.Steps[s.ID] = StepState{Output: []any{i, "out"}, Status: "completed"}
	}
	return sc
}

func compareEval(t *testing.T, what string, full, lazy *Template, sc *Scope) {
	t.Helper()
	if (full == nil) != (lazy == nil) {
		t.Errorf("%s: full %v, lazy %v", what, full, lazy)
		return
	}
	if full == nil {
		return
	}
	if !reflect.DeepEqual(full.Refs(), lazy.Refs()) {
		t.Errorf("%s refs: full %+v, lazy %+v", what, full.Refs(), lazy.Refs())
	}
	if full.Source() != lazy.Source() || full.Pos() != lazy.Pos() {
		t.Errorf("%s: source or position differ", what)
	}
	fv, ferr := full.Eval(sc)
	lv, lerr := lazy.Eval(sc)
	if fmt.Sprint(ferr) != fmt.Sprint(lerr) || !reflect.DeepEqual(fv, lv) {
		t.Errorf("%s: full gives %#v, %v; lazy gives %#v, %v", what, fv, ferr, lv, lerr)
	}
	if full.IsLiteral() != lazy.IsLiteral() {
		t.Errorf("%s: IsLiteral full %v, lazy %v", what, full.IsLiteral(), lazy.IsLiteral())
	}
	if full.shell != nil || lazy.shell != nil {
		fs, fe, ferr := full.Shell(sc)
		ls, le, lerr := lazy.Shell(sc)
		if fs != ls || !reflect.DeepEqual(fe, le) || fmt.Sprint(ferr) != fmt.Sprint(lerr) {
			t.Errorf("%s: full runs %q with %q, %v; lazy runs %q with %q, %v", what, fs, fe, ferr, ls, le, lerr)
		}
	}
}

// TestLazyLoadDefersExpressionErrors: what only compiling finds is
// reported when the template is first used, positioned like a load error;
// what the structure shows is still a load error.
func TestLazyLoadDefersExpressionErrors(t *testing.T) {
	tests := []struct {
		name    string
		flow    string
		loadErr string // a lazy load fails with this
		step    string
		field   string
		evalErr string // else evaluating step's field fails with this ("": the full load's error)
	}{
		{
			name:  "no such field",
			flow:  "name: x\nsteps:\n  a:\n    kind: checkpoint\n    value: ${{ 1 }}\n  b:\n    kind: checkpoint\n    value: ${{ steps.a.outptu }}\n",
			step:  "b",
			field: "value",
		},
		{
			name:    "if that is not a condition",
			flow:    "name: x\ninputs:\n  t: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    if: inputs.t\n    value: ${{ 1 }}\n",
			step:    "a",
			field:   "if",
			evalErr: `step "a" if: ${{ inputs.t }} gave the string "go", not true or false; compare it, e.g. inputs.t == "yes"`,
		},
		{
			name:  "item outside foreach",
			flow:  "name: x\nsteps:\n  a:\n    kind: checkpoint\n    run: echo ${{ item }}\n",
			step:  "a",
			field: "run",
		},
		{
			name:  "a variable that would not expand",
			flow:  "name: x\nsteps:\n  a:\n    kind: checkpoint\n    run: |\n      echo ok\n      echo 'no ${{ 1 }}'\n",
			step:  "a",
			field: "run",
		},
		{
			name:    "unknown kind is still a load error",
			flow:    "name: x\nsteps:\n  a:\n    kind: chekpoint\n    value: ${{ 1 }}\n",
			loadErr: `x.yaml:4:11: step "a": unknown kind "chekpoint"; did you mean "checkpoint"?`,
		},
		{
			name:    "unknown step is still a load error",
			flow:    "name: x\nsteps:\n  a:\n    kind: checkpoint\n    needs: [b]\n    value: ${{ 1 }}\n",
			loadErr: `x.yaml:5:13: step "a" needs unknown step "b"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fullErr := Parse("x.yaml", []byte(tt.flow), Options{})
			if fullErr == nil {
				t.Fatal("a full load accepts the flow; the case tests nothing")
			}
			want := tt.evalErr
			if want == "" {
				want = fullErr.Error() + " (in the run's flow snapshot"
			}
			f, err := Parse("x.yaml", []byte(tt.flow), Options{Lazy: true})
			if tt.loadErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.loadErr) {
					t.Fatalf("lazy load: got %v, want %s", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("lazy load: %v", err)
			}
			tmpl := stepTemplates(f.Step(tt.step))[tt.field]
			sc := &Scope{Inputs: map[string]any{"t": "go"}, Steps: map[string]StepState{"a": {Output: 1, Status: "completed"}}}
			for range 2 { // the second use reports the same error
				_, err = tmpl.Eval(sc)
				switch tt.field {
				case "if":
					_, err = tmpl.Bool(sc)
				case "run":
					_, _, err = tmpl.Shell(sc)
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("eval: got %v, want %s", err, want)
				}
			}
			var list *ErrorList
			if tt.evalErr == "" && !errors.As(err, &list) {
				t.Errorf("a compile error is %T, want *ErrorList", err)
			}
		})
	}
}

// TestLazyConcurrentFirstUse: many goroutines evaluating one lazily loaded
// flow at once compile each template once and agree (run with -race).
func TestLazyConcurrentFirstUse(t *testing.T) {
	f, err := Parse("chain.yaml", chainSource(20), Options{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	sc := &Scope{Steps: map[string]StepState{}}
	for i := range 20 {
		sc.Steps[fmt.Sprintf("s%d", i)] = StepState{Output: i, Status: "completed"}
	}
	var wg sync.WaitGroup
	results := make([][]any, 8)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range f.Steps {
				v, err := s.Checkpoint.Value.Eval(sc)
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], v)
			}
		}()
	}
	wg.Wait()
	for g := range results {
		if !reflect.DeepEqual(results[g], results[0]) {
			t.Fatalf("goroutine %d got %v, goroutine 0 got %v", g, results[g], results[0])
		}
	}
	if results[0][5] != 5 { // s5 = s4 + 1
		t.Errorf("s5 evaluated to %v, want 5", results[0][5])
	}
}

// TestScanRefsMatchesParser: where the quick scan answers, it answers as
// the parser does.
func TestScanRefsMatchesParser(t *testing.T) {
	c := newCompiler([]*Input{{Name: "topic"}, {Name: "tags"}}, []string{"a", "b", "my-step", "in"})
	tests := []struct {
		src    string
		scans  bool // the scan answers (rather than leaving it to the parser)
		steps  []string
		inputs []string
	}{
		{src: " steps.a.output + 1 ", scans: true, steps: []string{"a"}},
		{src: `steps["my-step"].output + inputs.topic`, scans: true, steps: []string{"my-step"}, inputs: []string{"topic"}},
		{src: `steps?.b?.status == "ok"`, scans: true, steps: []string{"b"}},
		{src: `steps . a . output`, scans: true, steps: []string{"a"}},
		{src: `"steps.a" + 'inputs.topic' + ` + "`steps.b`", scans: true},
		{src: `x.steps.a`, scans: true},
		{src: `steps.zzz.output`, scans: true}, // unknown: not a reference
		{src: `1..3`, scans: true},
		{src: `1.5 + steps.a.output`, scans: true, steps: []string{"a"}},
		{src: `map(inputs.tags, {# + steps.b.output})`, scans: true, steps: []string{"b"}, inputs: []string{"tags"}},
		{src: `{"k": steps.a.output}`, scans: true, steps: []string{"a"}},
		{src: `steps.in.output`, scans: true, steps: []string{"in"}},
		{src: `(steps).a.output`, steps: []string{"a"}},
		{src: `keys(steps)`},
		{src: `{steps: 1}`},
		{src: `{item: 1}`},
		{src: `true ? item : index`},
		{src: `item + "-" + string(index)`, scans: true},
		{src: `item.index + steps.a.output`, scans: true, steps: []string{"a"}},
		{src: `steps.a.output // steps.b`, steps: []string{"a"}},
		{src: `steps["a\u0062"].output`},
		{src: `let steps = 1; steps`},
		{src: `"ünïcode" + steps.a.output`, scans: true, steps: []string{"a"}},
		{src: `ünïcode + steps.a.output`, steps: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			want := c.parseRefs(tt.src)
			got, ok := c.scanRefs(tt.src)
			if ok != tt.scans {
				t.Errorf("scan answered %v, want %v", ok, tt.scans)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Errorf("scan %+v, parser %+v", got, want)
			}
			if !reflect.DeepEqual(want.Steps, tt.steps) || !reflect.DeepEqual(want.Inputs, tt.inputs) {
				t.Errorf("parser found steps %v inputs %v, want %v %v", want.Steps, want.Inputs, tt.steps, tt.inputs)
			}
			if r := c.refsOf(tt.src); !reflect.DeepEqual(r, want) {
				t.Errorf("refsOf %+v, want %+v", r, want)
			}
		})
	}
}

// FuzzScanRefs: for any expression the parser reads, the quick scan either
// declines or finds what the parser finds.
func FuzzScanRefs(f *testing.F) {
	for _, s := range []string{"steps.a.output", `steps["b"]?.status`, "inputs.topic + 1", "{item: steps.a}", "1..steps.a", `"x" + 'y\'' + steps.b`} {
		f.Add(s)
	}
	c := newCompiler([]*Input{{Name: "topic"}, {Name: "n"}}, []string{"a", "b", "c-d"})
	f.Fuzz(func(t *testing.T, src string) {
		got, ok := c.scanRefs(src)
		if !ok {
			return
		}
		if _, err := c.compile(src, &refCollector{c: c, allowItem: true, inputs: map[string]bool{}, steps: map[string]bool{}, src: src}); err != nil {
			return // not an expression a loadable flow holds
		}
		if want := c.parseRefs(src); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: scan %+v, parser %+v", src, got, want)
		}
	})
}

func TestIsStepID(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	for _, id := range []string{"", "a", "_", "A9", "a-b", "a_b", "9a", "-a", "a b", "a.b", "ä", "a$", "write_draft", "s-1-"} {
		if got, want := isStepID(id), re.MatchString(id); got != want {
			t.Errorf("isStepID(%q) = %v, want %v", id, got, want)
		}
	}
}

// sameItemBasis compares two item bases by what they hold.
func sameItemBasis(a, b *ItemBasis) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Fingerprint() == b.Fingerprint() && reflect.DeepEqual(a.Steps, b.Steps) &&
		reflect.DeepEqual(a.Inputs, b.Inputs) && a.Index == b.Index
}

// The quick reader leaves each step's body for later, reads it in memory
// the next body reuses, and says when it cannot read one (the loader then
// reads the file with yaml.v3).
func TestDeferredStepBodies(t *testing.T) {
	t.Parallel()
	doc, p, ok := parseBlock([]byte(layoutFlow), false, true)
	if !ok {
		t.Fatal("the quick reader gave up on the layout flow")
	}
	steps := doc.Content[0].Content[3] // name, then steps
	if doc.Content[0].Content[2].Value != "steps" {
		t.Fatalf("second key %q", doc.Content[0].Content[2].Value)
	}
	var kinds []string
	for i := 0; i+1 < len(steps.Content); i += 2 {
		v := steps.Content[i+1]
		if p.isDeferred(v) {
			if v, ok = p.body(v); !ok {
				t.Fatalf("step %s's body does not read", steps.Content[i].Value)
			}
		}
		kinds = append(kinds, steps.Content[i].Value+"="+v.Content[1].Value)
	}
	if got := strings.Join(kinds, " "); got != "a=checkpoint b=checkpoint c=llm" {
		t.Fatalf("bodies read %q", got)
	}
	_, p, ok = parseBlock([]byte("name: x\nsteps:\n  a:\n    kind: checkpoint\n    value: &v x\n"), false, true)
	if !ok {
		t.Fatal("the quick reader gave up before the body")
	}
	for n := range p.deferred {
		if _, ok := p.body(n); ok {
			t.Fatal("a body with an anchor was read quickly")
		}
	}
}
