package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// Through the binary: a turn asking two questions beside a lookup, a turn
// asking one more. Each question is answered with `kitaru input`, in
// order; the run waits (exit 3) until the last is answered, then ends. The
// fake's log shows each turn asked once and the answers sent as the
// calls' results; the lookup ran once.
func TestE2EWaitTools(t *testing.T) {
	e := newE2E(t)
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "ask", `{"question":"Which year?"}`, "ask", `{"question":"City or metro area?"}`)},
		fakellm.Turn{Calls: fakellm.Calls("confirm", `{"claim":"2.1 million"}`)},
		fakellm.Turn{Text: "2.1 million in 2024"})
	t.Cleanup(srv.Close)
	e.setenv("OPENAI_BASE_URL", srv.URL)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	src, err := os.ReadFile(filepath.Join("..", "testdata", "wait_tools.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	flow := e.write("agent.yaml", strings.NewReplacer("COUNTER", e.Dir, "MODEL", "openai/gpt-4o-mini", "TIMEOUT", "1h").Replace(string(src)))

	r := e.must(ExitWaiting, "run", flow)
	if !strings.Contains(r.Stderr, "at step research (2 questions, answered in this order):\n  1. Which year? (tool ask)\n  2. City or metro area? (tool ask)") {
		t.Errorf("the waiting run does not list the questions:\n%s", r)
	}
	if w := stepOf(t, e.record("last"), "research").Wait; w == nil || len(w.Calls) != 2 || w.Calls[1].ID != fakellm.CallID(1, 3) {
		t.Fatalf("the record's questions: %+v", w)
	}
	r = e.must(ExitWaiting, "input", "last", "--value", "2024")
	if !strings.Contains(r.Stderr, "waiting for input at step research:\n  City or metro area? (tool ask)") {
		t.Errorf("after the first answer the second question is not shown:\n%s", r)
	}
	e.must(ExitWaiting, "input", "last", "research", "--value", "city", "--no-resume")
	if s := stepOf(t, e.record("last"), "research"); s.Status != engine.StepPending || len(srv.Requests()) != 1 {
		t.Fatalf("with --no-resume: step %s, %d requests", s.Status, len(srv.Requests()))
	}
	r = e.must(ExitWaiting, "resume", "last")
	if !strings.Contains(r.Stderr, "Is 2.1 million right? (tool confirm)") || !strings.Contains(r.Stderr, "--value true") {
		t.Errorf("turn 2's question is not shown with an answer that fits:\n%s", r)
	}
	if r = e.must(2, "input", "last", "--value", "maybe"); !strings.Contains(r.Stderr, "does not fit its schema") {
		t.Errorf("an answer that breaks the schema:\n%s", r)
	}
	r = e.must(0, "input", "last", "--value", "true")
	if printedOutput(t, r.Stdout) != "2.1 million in 2024" {
		t.Errorf("output:\n%s", r)
	}
	for turn, n := range srv.Asked() {
		if n != 1 {
			t.Errorf("turn %d was requested %d times", turn, n)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[1].Results[fakellm.CallID(1, 2)] != "2024" || reqs[1].Results[fakellm.CallID(1, 3)] != "city" || reqs[2].Results[fakellm.CallID(2, 1)] != "true" {
		t.Errorf("requests %+v", reqs)
	}
	if n := e.count("lookup-Paris"); n != 1 {
		t.Errorf("lookup ran %d times, want 1", n)
	}

	// --abort at a question ends the run cancelled.
	e.must(ExitWaiting, "run", flow)
	if r = e.must(0, "input", "last", "--abort"); !strings.Contains(r.Stderr, "cancelled") {
		t.Errorf("abort:\n%s", r)
	}
}

// Through the binary, offline: a flow tool whose child run's own loop asks
// a person. The parent waits with the child's question, `kitaru input` on
// the parent answers it and resumes both, and the model's answer is the
// run's output; the step shows the question, its answer and the child.
func TestE2EWaitToolInAFlowToolsChild(t *testing.T) {
	e := newE2E(t)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "reviewed")
	e.write("child.yaml", `name: child
inputs:
  text: {type: string, default: draft}
tools:
  ask:
    kind: wait
    question: Publish ${{ args.what }}?
    parameters: {type: object, properties: {what: {type: string, default: the post}}, required: [what]}
steps:
  inner:
    kind: llm
    prompt: Review ${{ inputs.text }}.
    tools: [ask]
output: ${{ steps.inner.output }}
`)
	flow := e.write("parent.yaml", `name: parent
tools:
  review: {flow: child.yaml}
steps:
  research:
    kind: llm
    prompt: Publish the post.
    tools: [review]
output: ${{ steps.research.output }}
`)
	r := e.must(ExitWaiting, "run", flow)
	if !strings.Contains(r.Stderr, "Publish the post? (tool review, its child run kr-") {
		t.Errorf("the waiting parent does not show the child's question:\n%s", r)
	}
	r = e.must(0, "input", "last", "--value", `"yes, publish"`)
	if printedOutput(t, r.Stdout) != "reviewed" {
		t.Errorf("input:\n%s", r)
	}
	get := e.must(0, "executions", "get", "last", "--step", "research")
	if !strings.Contains(get.Stdout, "asked: Publish the post?\n      answered: yes, publish\n") {
		t.Errorf("the step does not show the question and its answer:\n%s", get.Stdout)
	}
	list := e.must(0, "executions", "list")
	if strings.Contains(list.Stdout, "waiting") || strings.Count(list.Stdout, "completed") != 2 {
		t.Errorf("runs:\n%s", list.Stdout)
	}

	// The same tool in each item of a foreach step: one question a child.
	each := e.write("each.yaml", `name: each
tools:
  review: {flow: child.yaml}
steps:
  research:
    kind: llm
    foreach: ${{ ["a", "b"] }}
    prompt: Publish ${{ item }}.
    tools: [review]
output: ${{ steps.research.output }}
`)
	r = e.must(ExitWaiting, "run", each)
	if !strings.Contains(r.Stderr, "1. Publish the post? (item 0, tool review, its child run kr-") || !strings.Contains(r.Stderr, "2. Publish the post? (item 1, tool review, its child run kr-") {
		t.Errorf("the items' children's questions:\n%s", r)
	}
	e.must(ExitWaiting, "input", "last", "--value", `"yes"`)
	if r = e.must(0, "input", "last", "--value", `"no"`); !strings.Contains(r.Stdout, `"reviewed"`) {
		t.Errorf("output:\n%s", r)
	}
	if list = e.must(0, "executions", "list"); strings.Contains(list.Stdout, "waiting") || strings.Count(list.Stdout, "completed") != 5 {
		t.Errorf("runs:\n%s", list.Stdout)
	}
}

// Through the binary, offline: each item of a foreach step asks through a
// wait tool; the run waits with both questions, each naming its item, and
// two answers complete it.
func TestE2EWaitToolInForeachItems(t *testing.T) {
	e := newE2E(t)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "noted")
	flow := e.write("fe.yaml", `name: fe
tools:
  ask:
    kind: wait
    question: Which ${{ args.what }}?
    parameters: {type: object, properties: {what: {type: string, default: one}}, required: [what]}
steps:
  research:
    kind: llm
    foreach: ${{ ["a", "b"] }}
    prompt: About ${{ item }}
    tools: [ask]
output: ${{ steps.research.output }}
`)
	r := e.must(ExitWaiting, "run", flow)
	if !strings.Contains(r.Stderr, "1. Which one? (item 0, tool ask)\n  2. Which one? (item 1, tool ask)") {
		t.Errorf("the waiting run does not list the items' questions:\n%s", r)
	}
	r = e.must(ExitWaiting, "input", "last", "--value", `"first"`)
	if !strings.Contains(r.Stderr, "Which one? (item 1, tool ask)") {
		t.Errorf("after the first answer:\n%s", r)
	}
	r = e.must(0, "input", "last", "--value", `"second"`)
	if !strings.Contains(r.Stdout, `"noted"`) {
		t.Errorf("output:\n%s", r)
	}
	get := e.must(0, "executions", "get", "last", "--step", "research", "--item", "1")
	if !strings.Contains(get.Stdout, "asked: Which one?\n      answer: second") {
		t.Errorf("item 1 does not show its question and answer:\n%s", get.Stdout)
	}
}

// Through the binary: each item of a flow step's foreach has a child that
// waits; the parent waits with one question an item, naming the item and
// its child, and `kitaru input` on the parent answers them in order.
func TestE2EFlowForeachItemsWait(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.write("child.yaml", `name: child
inputs:
  text: {type: string}
steps:
  ok: {kind: wait, question: "Approve ${{ inputs.text }}?", schema: {type: boolean}}
output: ${{ inputs.text }} ${{ steps.ok.output }}
`)
	flow := e.write("parent.yaml", `name: parent
steps:
  per:
    kind: flow
    flow: child.yaml
    foreach: ${{ ["a", "b"] }}
    inputs: {text: "${{ item }}"}
output: ${{ steps.per.output }}
`)
	r := e.must(ExitWaiting, "run", flow)
	if !strings.Contains(r.Stderr, "1. Approve a? (item 0, its child run kr-") || !strings.Contains(r.Stderr, "2. Approve b? (item 1, its child run kr-") {
		t.Errorf("the items' questions:\n%s", r)
	}
	e.must(ExitWaiting, "input", "last", "--value", "true")
	if r = e.must(0, "input", "last", "--value", "false"); !strings.Contains(r.Stdout, `"a true"`) || !strings.Contains(r.Stdout, `"b false"`) {
		t.Errorf("output:\n%s", r)
	}
	if list := e.must(0, "executions", "list"); strings.Contains(list.Stdout, "waiting") || strings.Count(list.Stdout, "completed") != 3 {
		t.Errorf("runs:\n%s", list.Stdout)
	}
}
