package engine

import (
	"strings"
	"testing"

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
