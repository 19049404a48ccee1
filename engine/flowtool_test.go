package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// A flow: tool's call runs its sub-flow as a child run, the call's
// arguments its inputs and its output the result the model is sent.
func TestFlowToolInAgentLoop(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("summarise", `{"text":"doc"}`, "summarise", `{"txt":"no"}`)},
		fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	f, _ := te.subFiles(map[string]string{
		"main.yaml": `name: main
tools:
  summarise:
    description: Summarise a text.
    flow: child.yaml
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Summarise doc.
    tools: [summarise]
output: ${{ steps.research.output }}
`,
		"child.yaml": summariseFlow,
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	calls := step(t, run, "research").Turns[0].ToolCalls
	if len(calls) != 2 || calls[0].Output != "sum of doc" || calls[0].Error != nil || calls[0].ChildRun == "" {
		t.Fatalf("tool calls %+v", calls)
	}
	// Parameters come from the sub-flow's inputs: a call without text is
	// refused before any child starts.
	if calls[1].Error == nil || !strings.Contains(*calls[1].Error, "text") {
		t.Fatalf("the call without text: %+v", calls[1])
	}
	if te.count("s-doc") != 1 {
		t.Fatalf("the sub-flow ran %d times", te.count("s-doc"))
	}
	runs, err := listRuns(te.store)
	if err != nil || len(runs) != 2 {
		t.Fatalf("%d runs (%v), want the parent and one child", len(runs), err)
	}
	for _, m := range runs {
		if m.ID == run.ID {
			continue
		}
		if p := m.Parent; m.ID != calls[0].ChildRun || p == nil || p.Run != run.ID || p.Step != "research" || p.Call != "1.1.1" {
			t.Fatalf("the child's parent is %+v", m.Parent)
		}
	}
}

// spendEnv: a flow: tool's child run (anthropic/) asks a server of its
// own, not its parent's (openai/).
func spendEnv(t *testing.T, parent, child *fakellm.Server) *testEnv {
	t.Helper()
	return agentEnvOf(t, parent.URL, child.URL, 2)
}

const spendMain = `name: main
BUDGET
tools:
  summarise:
    description: Summarise a text.
    flow: child.yaml
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Summarise doc.
    tools: [summarise]
output: ${{ steps.research.output }}
`

const spendChild = `name: child
inputs:
  text: {type: string}
steps:
  sum:
    kind: llm
    model: anthropic/claude-sonnet-4-0
    prompt: Summarise ${{ inputs.text }}.
output: ${{ steps.sum.output }}
`

// What a flow: tool's child run spent is the calling step's spend: the
// call's record says it, and the step's and the run's totals count it.
// The fake servers charge 10·turn+5 tokens a call: 15 and 25 for the
// parent's two turns, 15 for the child's one.
func TestFlowToolChildSpendCountsInTheStep(t *testing.T) {
	t.Parallel()
	parent := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("summarise", `{"text":"doc"}`)},
		fakellm.Turn{Text: "done"})
	defer parent.Close()
	child := fakellm.New("anthropic", fakellm.Turn{Text: "short"})
	defer child.Close()
	te := spendEnv(t, parent, child)
	f, _ := te.subFiles(map[string]string{"main.yaml": strings.Replace(spendMain, "BUDGET", "", 1), "child.yaml": spendChild})
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	s := step(t, run, "research")
	tc := s.Turns[0].ToolCalls[0]
	if tc.Output != "short" || tc.Usage == nil || tc.Usage.Total() != 15 {
		t.Fatalf("the tool call %+v (usage %v): want the child's answer and its 15 tokens", tc, tc.Usage)
	}
	if s.Usage.Total() != 55 || run.Usage.Total() != 55 {
		t.Fatalf("step usage %d, run usage %d: want 55 (15 + 25 of the parent's turns, 15 of the child's)", s.Usage.Total(), run.Usage.Total())
	}
	got, err := te.eng.Get(bg, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := step(t, got, "research").Usage.Total(); u != 55 || got.Usage.Total() != 55 {
		t.Fatalf("as read back: step usage %d, run usage %d, want 55", u, got.Usage.Total())
	}
}

// A flow: tool's child run is held to its parent's budget. With 15
// tokens the parent's first turn spends it: the child calls no model, the
// call and the step are held back unrecorded, and the run ends
// budget_exceeded. With 20 the child's call is the one that spends it
// (its tokens count against the parent's budget), so the parent's second
// turn is refused. Either way a retry with a larger budget finishes the
// run without asking any finished turn again.
func TestFlowToolChildHeldToTheRunsBudget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		limit       int
		childCalls  int // in the first go
		firstTotals int
	}{{15, 0, 15}, {20, 1, 30}} {
		t.Run(strconv.Itoa(tt.limit), func(t *testing.T) {
			t.Parallel()
			parent := fakellm.New("openai",
				fakellm.Turn{Calls: fakellm.Calls("summarise", `{"text":"doc"}`)},
				fakellm.Turn{Text: "done"})
			defer parent.Close()
			child := fakellm.New("anthropic", fakellm.Turn{Text: "short"})
			defer child.Close()
			te := spendEnv(t, parent, child)
			main := strings.Replace(spendMain, "BUDGET", fmt.Sprintf("budget: {max_tokens: %d}", tt.limit), 1)
			f, _ := te.subFiles(map[string]string{"main.yaml": main, "child.yaml": spendChild})
			first := te.start(f, nil)
			wantStatus(t, first, RunFailed)
			if first.Ending == nil || first.Ending.Code != runstore.EndBudgetExceeded {
				t.Fatalf("ending %+v, error %v: want budget_exceeded", first.Ending, first.Error)
			}
			if n := len(child.Requests()); n != tt.childCalls {
				t.Fatalf("the child asked its model %d times, want %d", n, tt.childCalls)
			}
			if first.Usage.Total() != tt.firstTotals {
				t.Fatalf("run usage %d, want %d", first.Usage.Total(), tt.firstTotals)
			}
			if s := step(t, first, "research"); s.Status != StepPending || s.Why == nil || s.Why.Code != runstore.ReasonHeldByBudget {
				t.Fatalf("the step is %s (%+v), want pending, held by the budget", s.Status, s.Why)
			}
			again, err := te.eng.Retry(bg, first.ID, 0, WithBudget(flowspec.Budget{MaxTokens: 1000}))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, again, RunCompleted)
			if asked := parent.Asked(); asked[1] != 1 || asked[2] != 1 || len(child.Requests()) != 1 {
				t.Fatalf("parent turns asked %v, child asked %d times: want each once", asked, len(child.Requests()))
			}
			if s := step(t, again, "research"); s.Usage.Total() != 55 || again.Usage.Total() != 55 {
				t.Fatalf("step usage %d, run usage %d, want 55", s.Usage.Total(), again.Usage.Total())
			}
		})
	}
}

// A child run resolves models with its parent's registry snapshot: an
// alias moved while the parent waited does not move its child's model.
func TestChildRunTakesItsParentsRegistry(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	te.models.reg = registry(map[string]string{"smart": "openai/a"}, "")
	f, _ := te.subFiles(map[string]string{
		"main.yaml":  "name: main\nsteps:\n  go: {kind: wait, question: 'Go?'}\n  one: {kind: flow, flow: child.yaml, needs: [go]}\noutput: ${{ steps.one.output }}\n",
		"child.yaml": "name: child\nsteps:\n  ask: {kind: llm, model: smart, prompt: hi}\noutput: ${{ steps.ask.output }}\n",
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	te.models.reg = registry(map[string]string{"smart": "openai/b"}, "")
	if _, err := te.eng.Answer(t.Context(), run.ID, "go", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	child, err := te.eng.Get(bg, step(t, run, "one").ChildRun)
	if err != nil {
		t.Fatal(err)
	}
	if child.Registry == nil || child.Registry.Aliases["smart"].Model != "openai/a" {
		t.Fatalf("the child's registry %+v: want its parent's, smart naming openai/a", child.Registry)
	}
}

// reviewFlow asks a person inside a child run, after a step that counts
// its runs in COUNTER/prep.
const reviewFlow = `name: review
inputs:
  text: {type: string}
steps:
  prep:
    kind: checkpoint
    run: echo x >> COUNTER/prep; echo prepared
  ok:
    kind: wait
    needs: [prep]
    question: Publish ${{ inputs.text }}?
    schema: {type: boolean}
output: ${{ steps.ok.output }}
`

// A flow: tool whose child run waits for a person makes its call, and so
// the step and the run, wait with the child's question; the answer given
// to the parent goes to the child, and the resume takes the child's output
// to the model. Nothing finished runs or is asked again; an abort ends
// both runs.
func TestFlowToolChildWaits(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("review", `{"text":"the post"}`)},
		fakellm.Turn{Text: "published"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	const main = `name: main
tools:
  review: {description: Ask a person to review a text., flow: child.yaml}
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Publish the post.
    tools: [review]
output: ${{ steps.research.output }}
`
	f, _ := te.subFiles(map[string]string{"main.yaml": main, "child.yaml": reviewFlow})
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	s := step(t, run, "research")
	if s.Status != StepWaiting || s.Wait == nil || len(s.Wait.Calls) != 1 {
		t.Fatalf("the step %s waits on %+v", s.Status, s.Wait)
	}
	q := s.Wait.Calls[0]
	if q.Question != "Publish the post?" || q.Tool != "review" || q.ChildRun == "" || q.Schema["type"] != "boolean" {
		t.Fatalf("the question %+v", q)
	}
	child := q.ChildRun
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`"yes"`)); err == nil || !strings.Contains(err.Error(), "does not fit its schema") {
		t.Fatalf("an answer that breaks the child's schema: %v", err)
	}
	run = answer(t, te, run.ID, true)
	if c := step(t, run, "research").Turns[0].ToolCalls[0]; !c.Pending || c.Wait == nil || !c.Wait.Answered {
		t.Fatalf("the answered call %+v", c)
	}
	cr, err := te.eng.Get(t.Context(), child)
	if err != nil {
		t.Fatal(err)
	}
	if ok := step(t, cr, "ok"); ok.Status != StepCompleted || ok.Output != true {
		t.Fatalf("the child's wait %s, %v", ok.Status, ok.Output)
	}
	run = resume(t, te, run.ID)
	wantStatus(t, run, RunCompleted)
	if run.Output != "published" {
		t.Errorf("output %v", run.Output)
	}
	if reqs := srv.Requests(); len(reqs) != 2 || reqs[1].Results[fakellm.CallID(1, 1)] != "true" {
		t.Errorf("the model got %+v", reqs)
	}
	if n := te.count("prep"); n != 1 {
		t.Errorf("the child's first step ran %d times", n)
	}
	if asked := srv.Asked(); asked[1] != 1 || asked[2] != 1 {
		t.Errorf("turns asked %v, each once", asked)
	}
	if cr, _ = te.eng.Get(t.Context(), child); cr.Status != RunCompleted {
		t.Errorf("the child is %s", cr.Status)
	}

	// An abort at the question ends the child too.
	srv2 := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("review", `{"text":"another"}`)}, fakellm.Turn{Text: "never"})
	defer srv2.Close()
	te2 := agentEnv(t, srv2, 2)
	f2, _ := te2.subFiles(map[string]string{"main.yaml": main, "child.yaml": reviewFlow})
	run = te2.start(f2, nil)
	wantStatus(t, run, RunWaiting)
	child = step(t, run, "research").Wait.Calls[0].ChildRun
	if run, err = te2.eng.Abort(t.Context(), run.ID, ""); err != nil || run.Status != RunCancelled {
		t.Fatalf("abort: %v, %v", run, err)
	}
	if cr, _ := te2.eng.Get(t.Context(), child); cr == nil || cr.Status != RunCancelled {
		t.Errorf("the child of an aborted run is %v", cr)
	}
}
