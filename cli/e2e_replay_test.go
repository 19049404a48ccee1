package cli

import (
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
