package engine

import (
	"testing"
)

func TestRunSimpleChain(t *testing.T) {
	te := newEnv(t)
	f := te.flow(`
name: chain
inputs:
  who: {type: string, default: world}
steps:
  a:
    kind: checkpoint
    run: echo a >> COUNTER/a; echo "hello ${{ inputs.who }}"
  b:
    kind: checkpoint
    value: '${{ steps.a.output + "!" }}'
  c:
    kind: llm
    model: fast
    prompt: say ${{ steps.b.output }}
output: ${{ steps.c.output }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if run.Output != "answer to: say hello world!" {
		t.Fatalf("output %#v", run.Output)
	}
	if te.count("a") != 1 {
		t.Fatalf("a ran %d times", te.count("a"))
	}
	c := step(t, run, "c")
	if c.Model != "fake/model" || c.Usage.InputTokens != 10 || c.CostUSD == nil || run.CostUSD != 0.5 {
		t.Fatalf("llm step record %+v, run cost %v", c, run.CostUSD)
	}
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, RunCompleted)
	if step(t, got, "b").Output != "hello world!" || got.Output != run.Output {
		t.Fatalf("get: %+v", got)
	}
}
