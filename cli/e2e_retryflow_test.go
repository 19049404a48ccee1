package cli

import (
	"os"
	"strings"
	"testing"
)

// The story of issue 13: a step times out, the user raises its timeout in
// the flow file; a plain retry runs the run's own copy of the flow and
// fails the same way, and retry --flow picks the edit up, in place, keeping
// the step that had completed.
func TestE2ERetryEditedFlow(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	const flow = `name: slow
steps:
  prep:
    kind: checkpoint
    run: echo x >> @D@/prep.done; echo ready
  slow:
    kind: checkpoint
    timeout: 1s
    run: echo x >> @D@/slow.done; sleep 2; echo done-${{ steps.prep.output }}
output: ${{ steps.slow.output }}
`
	path := e.flow("flow.yaml", flow)
	r := e.must(1, "run", path, "--quiet")
	id := strings.TrimPrefix(strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]), "run ")
	if !strings.Contains(r.Stderr, "timed out after 1.0s") || !strings.Contains(r.Stderr, "`kitaru retry "+id+" --flow flow.yaml`") {
		t.Fatalf("the failure does not say how an edit is picked up:\n%s", r.Stderr)
	}

	e.flow("flow.yaml", strings.Replace(flow, "timeout: 1s", "timeout: 5s", 1))
	if r := e.must(1, "retry", id, "--quiet"); !strings.Contains(r.Stderr, "timed out after 1.0s") {
		t.Fatalf("a plain retry should still run the recorded flow:\n%s", r.Stderr)
	}
	r = e.must(0, "retry", id, "--flow", "flow.yaml")
	if r.Stdout != "run "+id+"\ndone-ready\n" {
		t.Errorf("retry --flow printed %q, want the run's id and its output", r.Stdout)
	}
	for _, want := range []string{"run " + id + " now runs the edited flow.yaml: slow edited\n", "prep completed", "(kept from before)", "(definition changed in the edited flow)"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("retry --flow's progress does not say %q:\n%s", want, r.Stderr)
		}
	}
	if e.count("prep.done") != 1 || e.count("slow.done") != 3 {
		t.Errorf("prep ran %d times, slow %d; want 1 (kept) and 3", e.count("prep.done"), e.count("slow.done"))
	}
	rec := e.record(id)
	if s := stepOf(t, rec, "slow"); s.Reason != "definition changed in the edited flow" {
		t.Errorf("slow's reason %q", s.Reason)
	}
	if s := stepOf(t, rec, "prep"); s.Reason != "" || s.Status != "completed" {
		t.Errorf("prep: %s, reason %q", s.Status, s.Reason)
	}
	if get := e.must(0, "executions", "get", id); !strings.Contains(get.Stdout, "definition changed in the edited flow") {
		t.Errorf("executions get does not say why slow ran again:\n%s", get.Stdout)
	}
	// The edited flow is the run's now: a plain retry or replay reads it.
	if r := e.must(0, "replay", id, "--quiet"); !strings.Contains(r.Stdout, "done-ready") {
		t.Errorf("replay of the retried run: %s", r)
	}

	// A new input without a default cannot come in through a retry.
	bad := e.flow("bad.yaml", strings.Replace(flow, "steps:", "inputs:\n  who: {type: string}\nsteps:", 1))
	r = e.must(1, "run", e.flow("two.yaml", flow), "--quiet")
	id2 := strings.TrimPrefix(strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]), "run ")
	if r := e.must(2, "retry", id2, "--flow", bad); !strings.Contains(r.Stderr, `"who"`) {
		t.Errorf("retry --flow with a new required input:\n%s", r)
	}
	_ = os.Remove(bad)
}
