package cli

import (
	"strings"
	"testing"
)

// An answer recorded with --no-resume, then a replay of the run: the
// replay reuses the answer and goes on, instead of asking again.
func TestE2EReplayOfAnsweredWait(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("wait.yaml", waitFlow)
	e.must(3, "run", flow, "--quiet")
	e.must(3, "input", "last", "approve", "--value", "true", "--no-resume") // still waiting

	rep := decodeRun(t, e.must(0, "replay", "last", "--json", "--quiet").Stdout)
	if a := stepOf(t, rep, "approve"); !a.Reused || a.Output != true {
		t.Errorf("the replay's approve is %s (reused %v, reason %q): the answered question was asked again", a.Status, a.Reused, a.Reason)
	}
	if rep.Output != "shipped" || e.count("ship.done") != 1 || e.count("prep.done") != 1 {
		t.Errorf("replay output %v; prep ran %d times, ship %d; want shipped, 1, 1", rep.Output, e.count("prep.done"), e.count("ship.done"))
	}
}

// After `kitaru model register` moves an alias to another model, a replay
// runs the llm steps that use it again and says why; a replay after that,
// with nothing changed, calls no model.
func TestE2EReplayFollowsARegisteredAlias(t *testing.T) {
	t.Parallel()
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("llm.yaml", strings.Replace(twoLLMFlow, "output:", `  tally:
    kind: checkpoint
    run: echo x >> @D@/tally.done
output:`, 1))
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini")
	e.must(0, "run", flow, "--quiet")
	requests := func() int { reqs, _ := srv.snapshot(); return len(reqs) }

	// Nothing changed: nothing is paid for again.
	e.must(0, "replay", "last", "--quiet")
	if n := requests(); n != 2 {
		t.Fatalf("a replay with nothing changed sent %d requests, want none", n-2)
	}

	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4.1")
	r := e.must(0, "replay", "last")
	const why = "model changed: alias fast now resolves to openai/gpt-4.1, was openai/gpt-4o-mini"
	if !strings.Contains(r.Stderr, why) {
		t.Errorf("the replay's progress does not say why outline ran again:\n%s", r.Stderr)
	}
	rec := e.record("last")
	if s := stepOf(t, rec, "outline"); s.Reused || s.Model != "openai/gpt-4.1" || s.Reason != why {
		t.Errorf("outline: reused %v, model %q, reason %q", s.Reused, s.Model, s.Reason)
	}
	if s := stepOf(t, rec, "tally"); !s.Reused || e.count("tally.done") != 1 {
		t.Errorf("tally: reused %v, ran %d times", s.Reused, e.count("tally.done"))
	}
	if reqs, _ := srv.snapshot(); len(reqs) != 4 || reqs[2].Model != "gpt-4.1" {
		t.Errorf("after the alias moved the replay sent %d requests, want 2 to gpt-4.1", len(reqs)-2)
	}
	if get := e.must(0, "executions", "get", "last"); !strings.Contains(get.Stdout, why) {
		t.Errorf("executions get does not say why outline ran again:\n%s", get.Stdout)
	}

	e.must(0, "replay", "last", "--quiet")
	if n := requests(); n != 4 {
		t.Errorf("a replay of the replay sent %d requests, want none", n-4)
	}
}

// replay --flow EDITED --from S reuses the steps upstream of S even where
// the edited file changed them, and says so.
func TestE2EReplayFromNamesEditedUpstreamSteps(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("replay.yaml", replayFlow)
	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	edited := e.flow("edited.yaml", strings.Replace(replayFlow, `"notes on `, `"new notes on `, 1))

	r := e.must(0, "replay", first.ID, "--flow", edited, "--from", "draft")
	why := "reused from " + first.ID + ": not downstream of --from draft, though its definition changed in the edited flow"
	if !strings.Contains(r.Stderr, "research reused from "+first.ID+": not downstream of --from draft, though its definition changed in the edited flow") {
		t.Errorf("the replay's progress does not say research changed:\n%s", r.Stderr)
	}
	rec := e.record("last")
	if s := stepOf(t, rec, "research"); !s.Reused || s.Reason != why {
		t.Errorf("research: reused %v, reason %q, want %q", s.Reused, s.Reason, why)
	}
	if s := stepOf(t, rec, "side"); strings.Contains(s.Reason, "though") {
		t.Errorf("side did not change, but its reason is %q", s.Reason)
	}
	if rec.Output != "draft from notes on cats + side x" || e.count("research.done") != 1 {
		t.Errorf("output %v, research ran %d times", rec.Output, e.count("research.done"))
	}
	if get := e.must(0, "executions", "get", "last"); !strings.Contains(get.Stdout, why) {
		t.Errorf("executions get does not say research changed:\n%s", get.Stdout)
	}
}
