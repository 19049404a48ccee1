package cli

import (
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

const fanFlow = `name: fan
inputs:
  topics: {type: list, default: [alpha, beta, gamma]}
defaults:
  model: fast
steps:
  research:
    kind: llm
    foreach: inputs.topics
    prompt: Research ${{ item }}
  notes:
    kind: checkpoint
    foreach: inputs.topics
    run: echo ${{ item }} >> @D@/notes.count; echo noted ${{ item }}
  summary:
    kind: checkpoint
    needs: [research, notes]
    run: echo x >> @D@/summary.count; echo done
`

// itemsReused is which items of a step a record says were reused.
func itemsReused(s engine.StepResult) []bool {
	var out []bool
	for _, it := range s.Items {
		out = append(out, it.Reused)
	}
	return out
}

// A replay pays only for the foreach items that changed: one topic added
// to three is one model call, not four; --from 'STEP[N]' is one call.
func TestE2EReplayReusesForeachItems(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini")
	flow := e.flow("fan.yaml", fanFlow)
	calls := func() int { reqs, _ := srv.snapshot(); return len(reqs) }

	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	if calls() != 3 || e.count("notes.count") != 3 {
		t.Fatalf("the first run made %d calls and %d notes, want 3 and 3", calls(), e.count("notes.count"))
	}

	added := decodeRun(t, e.must(0, "replay", first.ID, "--input", `topics=["alpha","beta","gamma","delta"]`, "--json", "--quiet").Stdout)
	if calls() != 4 || e.count("notes.count") != 4 {
		t.Errorf("adding one topic made %d calls and %d notes in all, want 4 and 4", calls(), e.count("notes.count"))
	}
	research := stepOf(t, added, "research")
	if got := itemsReused(research); len(got) != 4 || !got[0] || !got[1] || !got[2] || got[3] {
		t.Errorf("research items reused %v, want the three old ones", got)
	}
	if want := "items: 3 reused from " + first.ID + ", 1 ran (1 new or changed)"; !strings.Contains(research.Reason, want) {
		t.Errorf("research's reason %q, want it to say %q", research.Reason, want)
	}
	if research.Usage.InputTokens != 11 {
		t.Errorf("research counts %d input tokens, want those of its one call", research.Usage.InputTokens)
	}
	if get := e.must(0, "executions", "get", added.ID); !strings.Contains(get.Stdout, "items: 3 reused from "+first.ID) {
		t.Errorf("executions get does not say which items were reused:\n%s", get.Stdout)
	}

	one := decodeRun(t, e.must(0, "replay", added.ID, "--from", "research[1]", "--json", "--quiet").Stdout)
	if calls() != 5 || e.count("notes.count") != 4 || e.count("summary.count") != 3 {
		t.Errorf("--from research[1]: %d calls, %d notes, %d summaries in all; want 5, 4, 3", calls(), e.count("notes.count"), e.count("summary.count"))
	}
	if reqs, _ := srv.snapshot(); !strings.Contains(reqs[len(reqs)-1].Messages[0].Content, "Research beta") {
		t.Errorf("--from research[1] asked %+v", reqs[len(reqs)-1].Messages)
	}
	if got := itemsReused(stepOf(t, one, "research")); len(got) != 4 || !got[0] || got[1] || !got[2] || !got[3] {
		t.Errorf("--from research[1]: items reused %v", got)
	}
	if one.ReplayFrom != "research[1]" || !stepOf(t, one, "notes").Reused {
		t.Errorf("--from research[1]: replay_from %q, notes reused %v", one.ReplayFrom, stepOf(t, one, "notes").Reused)
	}

	for _, tt := range []struct{ from, says string }{
		{"research[4]", "--from research[4]: step research had 4 items (research[0] to research[3]) in run " + one.ID},
		{"summary[0]", "step summary has no foreach, so it has no items; write --from summary"},
		{"research[x]", "write STEP[N] with N an item's number from 0"},
	} {
		r := e.must(2, "replay", "last", "--from", tt.from)
		if !strings.Contains(r.Stderr, tt.says) {
			t.Errorf("--from %s said:\n%s\nwant %q", tt.from, r.Stderr, tt.says)
		}
	}
	if calls() != 5 {
		t.Errorf("a refused replay called the model")
	}
}

// A replay of a cancelled run reuses the items it finished (the mock model
// answers; the checkpoint's counter file counts executions).
func TestE2EReplayOfCancelledRunReusesItems(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "mocked")
	flow := e.flow("stop.yaml", `name: stop
inputs:
  xs: {type: list, default: [a, b, c]}
steps:
  ask:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: inputs.xs
    prompt: about ${{ item }}
  each:
    kind: checkpoint
    needs: [ask]
    foreach: inputs.xs
    run: |
      echo x >> @D@/${{ item }}.count
      if [ ${{ item }} = c ] && [ ! -f @D@/go ]; then echo x >> @D@/waiting; sleep 30 & wait; fi
      echo ${{ item }}${{ item }}
`)
	cmd, _, _ := e.startUntil("waiting", "run", flow, "--quiet", "--parallel", "1")
	e.must(0, "executions", "cancel", "last")
	cmd.Wait()
	src := e.record("last")
	if src.Status != engine.RunCancelled {
		t.Fatalf("the run is %s, want cancelled", src.Status)
	}
	e.write("go", "")
	run := decodeRun(t, e.must(0, "replay", src.ID, "--json", "--quiet").Stdout)
	if e.count("a.count") != 1 || e.count("b.count") != 1 || e.count("c.count") != 2 {
		t.Errorf("item executions a=%d b=%d c=%d, want 1 1 2", e.count("a.count"), e.count("b.count"), e.count("c.count"))
	}
	if out := stepOf(t, run, "each").Output; out == nil {
		t.Errorf("each has no output")
	}
	if got := itemsReused(stepOf(t, run, "each")); len(got) != 3 || !got[0] || !got[1] || got[2] {
		t.Errorf("items reused %v, want a and b", got)
	}
	if !stepOf(t, run, "ask").Reused {
		t.Errorf("ask, which finished before the cancel, ran again")
	}
}
