package cli

import (
	"strings"
	"testing"
)

// What the machine lacks is warned about by validate (which still exits
// 0) and by run, once, before the run starts.

const warnFlow = `name: warned
steps:
  draft:
    kind: llm
    model: gpt-4o
    prompt: Write a haiku.
  polish:
    kind: llm
    model: fsat
    prompt: ${{ steps.draft.output }}
  notify:
    kind: checkpoint
    run: echo "$TOKEN"
    secrets: [webhook]
  again:
    kind: llm
    model: gpt-4o
    prompt: ${{ steps.polish.output }}
`

func TestE2EValidateWarns(t *testing.T) {
	e := newE2E(t)
	e.must(ExitOK, "model", "register", "fast", "--model", "openai/gpt-4o-mini")
	flow := e.write("warned.yaml", warnFlow)
	r := e.must(ExitOK, "validate", flow)
	checkGolden(t, "cli/validate_warnings.txt.golden", strings.ReplaceAll(r.Stdout+"--- stderr\n"+r.Stderr, e.Dir, "DIR"))
	j := e.must(ExitOK, "validate", flow, "--json")
	checkGolden(t, "cli/validate_warnings.json.golden", strings.ReplaceAll(j.Stdout, e.Dir, "DIR"))
	if j.Stderr != "" {
		t.Errorf("validate --json wrote to stderr:\n%s", j.Stderr)
	}
}

func TestE2ERunWarnsOnce(t *testing.T) {
	e := newE2E(t)
	flow := e.write("warned.yaml", warnFlow)
	r := e.must(ExitRunFailed, "run", flow)
	if n := strings.Count(r.Stderr, ": warning: "); n != 3 {
		t.Fatalf("want 3 warnings (two aliases, one secret), each once; got %d:\n%s", n, r)
	}
	if n := strings.Count(r.Stderr, `warning: model alias "gpt-4o"`); n != 1 {
		t.Errorf("the gpt-4o warning is said %d times, want once:\n%s", n, r)
	}
	warned := strings.Index(r.Stderr, ": warning: ")
	if started := strings.Index(r.Stderr, "draft"); started >= 0 && started < warned {
		t.Errorf("the warnings come after the run started:\n%s", r)
	}
	// The step's own error says what to write, and never to register the
	// name as some other model.
	if !strings.Contains(r.Stderr+r.Stdout, "write model: openai/gpt-4o") || strings.Contains(r.Stderr+r.Stdout, "--model openai/gpt-4o-mini") {
		t.Errorf("the failure does not point at openai/gpt-4o:\n%s", r)
	}
	// With the mock on no alias is resolved: only the secret is missing.
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "hi")
	r = e.run("run", flow)
	if n := strings.Count(r.Stderr, ": warning: "); n != 1 || !strings.Contains(r.Stderr, `secret "webhook"`) {
		t.Errorf("with the mock, want the one secret warning:\n%s", r)
	}
}
