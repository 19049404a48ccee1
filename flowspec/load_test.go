package flowspec

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const fullFlow = `name: full
description: Every field.
inputs:
  topic: {type: string, description: What, default: go}
  n: {default: 3}
  must: {type: number}
  opt:
defaults:
  model: fast
  retry: {attempts: 3, backoff: 2s}
  timeout: 2m
steps:
  ask:
    kind: llm
    model: openai/gpt-4o-mini
    temperature: 0.2
    max_tokens: 400
    system: Be brief.
    prompt: About ${{ inputs.topic }}
    output: json
    retry: {attempts: 5}
  chat:
    kind: llm
    description: A chat.
    messages:
      - {role: system, content: Be kind.}
      - {role: user, content: "${{ steps.ask.output }}"}
    timeout: 30s
  sh:
    kind: checkpoint
    needs: chat
    run: echo "$GREETING"
    stdin: ${{ steps.ask.output }}
    env: {GREETING: "hi ${{ inputs.n }}", PLAIN: 7}
    dir: /tmp
    secrets: [webhook, other]
  each:
    kind: checkpoint
    foreach: ${{ [1, 2, 3] }}
    value: ${{ item * 10 + index }}
  val:
    kind: checkpoint
    value: 42
  approve:
    kind: wait
    question: OK?
    schema: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
    timeout: 1h
output: ${{ steps.val.output }}
`

func TestLoadFields(t *testing.T) {
	var checked []string
	f, err := Parse("full.yaml", []byte(fullFlow), Options{CheckModel: func(m string) error {
		checked = append(checked, m)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"fast", "openai/gpt-4o-mini"}; !reflect.DeepEqual(checked, want) {
		t.Errorf("CheckModel saw %v, want %v", checked, want)
	}
	if f.Name != "full" || f.Description != "Every field." || f.File != "full.yaml" || string(f.Source) != fullFlow {
		t.Errorf("flow header: %q %q %q", f.Name, f.Description, f.File)
	}
	wantInputs := []Input{
		{Name: "topic", Type: "string", Description: "What", Default: "go", HasDefault: true, Pos: Pos{4, 3}},
		{Name: "n", Type: "integer", Default: 3, HasDefault: true, Pos: Pos{5, 3}},
		{Name: "must", Type: "number", Pos: Pos{6, 3}},
		{Name: "opt", Type: "string", Pos: Pos{7, 3}},
	}
	for i, in := range f.Inputs {
		if !reflect.DeepEqual(*in, wantInputs[i]) {
			t.Errorf("input %d = %+v, want %+v", i, *in, wantInputs[i])
		}
	}
	if want := (Defaults{Model: "fast", Retry: Retry{3, 2 * time.Second}, Timeout: 2 * time.Minute}); !reflect.DeepEqual(f.Defaults, want) {
		t.Errorf("defaults %+v", f.Defaults)
	}

	ask := f.Step("ask")
	if ask.Kind != KindLLM || ask.LLM.Model != "openai/gpt-4o-mini" || *ask.LLM.Temperature != 0.2 || ask.LLM.MaxTokens != 400 ||
		!ask.OutputJSON || ask.Retry != (Retry{5, 2 * time.Second}) || ask.Timeout != 2*time.Minute || ask.Pos != (Pos{13, 3}) {
		t.Errorf("ask: %+v %+v", ask, ask.LLM)
	}
	if ask.LLM.System.Source() != "Be brief." || ask.LLM.Prompt.Source() != "About ${{ inputs.topic }}" {
		t.Errorf("ask templates %q %q", ask.LLM.System.Source(), ask.LLM.Prompt.Source())
	}
	chat := f.Step("chat")
	if chat.LLM.Model != "fast" || chat.LLM.Prompt != nil || len(chat.LLM.Messages) != 2 || chat.LLM.Messages[1].Role != "user" ||
		chat.Timeout != 30*time.Second || chat.Description != "A chat." || !reflect.DeepEqual(chat.Deps, []string{"ask"}) {
		t.Errorf("chat: %+v %+v", chat, chat.LLM)
	}
	sh := f.Step("sh").Checkpoint
	if sh.Run.Source() != `echo "$GREETING"` || sh.Dir.Source() != "/tmp" || !reflect.DeepEqual(sh.Secrets, []string{"webhook", "other"}) ||
		len(sh.Env) != 2 || sh.Env[0].Name != "GREETING" || sh.Env[1].Value.Source() != "7" {
		t.Errorf("sh: %+v", sh)
	}
	if got := f.Step("sh").Deps; !reflect.DeepEqual(got, []string{"ask", "chat"}) {
		t.Errorf("sh deps %v", got)
	}
	env, err := sh.Env[0].Value.Render(&Scope{Inputs: map[string]any{"n": 3}})
	if err != nil || env != "hi 3" {
		t.Errorf("env render %q %v", env, err)
	}
	each := f.Step("each")
	items, err := each.Foreach.Eval(&Scope{})
	if err != nil || !reflect.DeepEqual(items, []any{1, 2, 3}) {
		t.Errorf("foreach items %v %v", items, err)
	}
	if v, err := each.Checkpoint.Value.Eval(&Scope{Item: 2, Index: 1}); err != nil || v != 21 {
		t.Errorf("item value %v %v", v, err)
	}
	if v, err := f.Step("val").Checkpoint.Value.Eval(nil); err != nil || v != 42 {
		t.Errorf("constant value %#v %v", v, err)
	}
	w := f.Step("approve")
	if w.Wait.Question.Source() != "OK?" || w.Timeout != time.Hour || w.Wait.Schema["type"] != "object" {
		t.Errorf("wait: %+v", w.Wait)
	}
	if _, err := CompileSchema([]byte(`{"type": "boolean"}`)); err != nil {
		t.Errorf("CompileSchema: %v", err)
	}
	if out, err := f.Output.Eval(&Scope{Steps: map[string]StepState{"val": {Output: 42}}}); err != nil || out != 42 {
		t.Errorf("output %v %v", out, err)
	}
}

func TestCheckModelErrorIsPositioned(t *testing.T) {
	_, err := Parse("m.yaml", []byte("name: m\ndefaults: {model: bad}\nsteps:\n  a: {kind: llm, prompt: hi, model: worse}\n"),
		Options{CheckModel: func(m string) error { return errors.New("no such model") }})
	want := "m.yaml:2:19: model \"bad\": no such model\nm.yaml:4:37: model \"worse\": no such model"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want\n%s", err, want)
	}
}

func TestErrorListSortedAndComplete(t *testing.T) {
	_, err := Parse("e.yaml", []byte("name: e\nsteps:\n  b: {kind: nope}\n  a: {kind: llm}\n"), Options{})
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not *ErrorList", err)
	}
	if len(*list) != 2 {
		t.Fatalf("%d errors, want 2: %v", len(*list), err)
	}
	lines := strings.Split(err.Error(), "\n")
	if !slices.IsSorted(lines) || !strings.HasPrefix(lines[0], "e.yaml:3:") {
		t.Errorf("errors not in file order:\n%s", err)
	}
}

func TestPositionsInQuotedAndBlockScalars(t *testing.T) {
	src := "name: p\nsteps:\n  a:\n    kind: llm\n    prompt: \"x ${{ steps.q.output }}\"\n  b:\n    kind: llm\n    prompt: |\n      line one\n        two ${{ steps.r.output }}\n"
	_, err := Parse("p.yaml", []byte(src), Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"p.yaml:5:26: ", "p.yaml:10:23: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error at %s in\n%s", want, err)
		}
	}
}

func TestAliasesAndAnchors(t *testing.T) {
	f := mustParse(t, `name: anchors
defaults:
  model: fast
steps:
  a: &base
    kind: llm
    prompt: hi
  b: *base
`)
	if f.Step("b").LLM.Prompt.Source() != "hi" {
		t.Error("alias not followed")
	}
}

func TestPositionsThroughFoldingAndEscapes(t *testing.T) {
	src := "name: p\nsteps:\n" +
		"  a:\n    kind: llm\n    prompt: >\n      folded line\n      and ${{ steps.q.output }} here\n" +
		"  b:\n    kind: llm\n    prompt: \"say \\\"hi\\\" ${{ steps.r.output }}\"\n" +
		"  c:\n    kind: llm\n    prompt: plain text that\n      goes on ${{ steps.s.output }}\n" +
		"  d:\n    kind: llm\n    prompt: 'it''s ${{ steps.a.output }} ${{ steps.t.output }}'\n"
	_, err := Parse("p.yaml", []byte(src), Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`p.yaml:7:21: step "a" prompt: unknown step "q"`, `p.yaml:10:35: step "b" prompt: unknown step "r"`,
		`p.yaml:14:25: step "c" prompt: unknown step "s"`, `p.yaml:17:52: step "d" prompt: unknown step "t"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %s in\n%s", want, err)
		}
	}
}
