package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// replayedWith runs replayFlow, then replays it with args; it returns
// the installation, the run and the replay.
func replayedWith(t *testing.T, args ...string) (e *e2e, src, rep string) {
	t.Helper()
	e = newE2E(t)
	requireEngine(t, e)
	flow := e.flow("replay.yaml", replayFlow)
	src = announcedID(t, e.must(0, "run", flow, "--quiet").Stdout)
	rep = decodeRun(t, e.must(0, append([]string{"replay", src, "--json", "--quiet"}, args...)...).Stdout).ID
	return e, src, rep
}

// replayedFromDraft is replayedWith --from draft: the replay reuses
// research and side from the run.
func replayedFromDraft(t *testing.T) (*e2e, string, string) {
	t.Helper()
	return replayedWith(t, "--from", "draft")
}

// A replay keeps the steps it reused in its source's records: deleting the
// source alone is refused and names the replay, the replay still reads
// whole, and the two go together.
func TestE2EDeleteKeepsWhatAReplayReuses(t *testing.T) {
	e, src, rep := replayedFromDraft(t)

	r := e.must(2, "executions", "delete", src)
	if !strings.Contains(r.Stderr, "nothing was deleted") || !strings.Contains(r.Stderr, rep) ||
		!strings.Contains(r.Stderr, "kitaru executions delete "+src+" "+rep) {
		t.Errorf("a refused delete does not name the replay and the way out:\n%s", r.Stderr)
	}
	j := e.must(2, "executions", "delete", src, "--json")
	var rm engine.Removal
	if err := json.Unmarshal([]byte(j.Stdout), &rm); err != nil || len(rm.Kept) != 1 || rm.Kept[0].Why != engine.KeepReused || rm.Kept[0].By[0] != rep {
		t.Errorf("a refused delete's JSON: %v\n%s", err, j.Stdout)
	}
	rec := e.record(rep)
	if st := stepOf(t, rec, "research"); st.Status != engine.StepCompleted || !st.Reused || st.Output != "notes on cats" {
		t.Errorf("after a refused delete, the replay's reused step reads %s %v", st.Status, st.Output)
	}

	r = e.must(0, "executions", "delete", src, rep)
	if r.Stdout != "deleted run "+rep+"\ndeleted run "+src+"\n" {
		t.Errorf("delete printed %q; want the replay deleted first", r.Stdout)
	}
	for _, id := range []string{src, rep} {
		if _, err := os.Stat(filepath.Join(e.Home, "runs", id)); !os.IsNotExist(err) {
			t.Errorf("run %s is still on disk: %v", id, err)
		}
	}
	if l := e.must(0, "executions", "list"); !strings.Contains(l.Stdout, "no runs yet") {
		t.Errorf("list after delete:\n%s", l.Stdout)
	}
	if r := e.must(2, "executions", "delete", src); !strings.Contains(r.Stderr, "no run matches") {
		t.Errorf("delete of a deleted run:\n%s", r)
	}
}

// A run being run and a run waiting for input are refused with what to do.
func TestE2EDeleteRefusesRunningAndWaitingRuns(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	waiting := announcedID(t, e.must(3, "run", e.flow("wait.yaml", waitFlow)).Stdout)
	slow := e.flow("slow.yaml", `name: slow
steps:
  s:
    kind: checkpoint
    run: echo x >> @D@/started; while [ ! -e @D@/stop ]; do sleep 0.05; done
`)
	cmd, _, _ := e.startUntil("started", "run", slow)
	running := e.record("last").ID // its output is still being written
	if running == waiting {
		t.Fatalf("the last run is the waiting one")
	}

	r := e.must(2, "executions", "delete", waiting, running)
	for _, want := range []string{
		"run " + waiting + ": it is waiting for input", "kitaru input " + waiting + " --abort",
		"run " + running + ": it is being run by process", "kitaru executions cancel " + running,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.Stderr)
		}
	}
	if st := e.record(waiting).Status; st != engine.RunWaiting {
		t.Errorf("the waiting run is %s after a refused delete", st)
	}
	if r := e.must(0, "executions", "prune", "--older-than", "1ms"); !strings.Contains(r.Stdout, "kept "+running) || !strings.Contains(r.Stdout, "kept "+waiting) || !strings.Contains(r.Stdout, "0 runs deleted") {
		t.Errorf("prune of a running and a waiting run:\n%s", r.Stdout)
	}
	e.write("stop", "")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the run did not end well: %v", err)
	}
	// Ended, it may go now.
	e.must(0, "executions", "delete", running)
}

// Prune removes what is old enough and matches, a dry run nothing.
func TestE2EPrune(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	ok := e.flow("ok.yaml", "name: ok\nsteps:\n  a: {kind: checkpoint, run: echo ok}\n")
	bad := e.flow("bad.yaml", "name: bad\nsteps:\n  a: {kind: checkpoint, run: exit 3}\n")
	done := announcedID(t, e.must(0, "run", ok, "--quiet").Stdout)
	failed := announcedID(t, e.must(1, "run", bad, "--quiet").Stdout)
	time.Sleep(20 * time.Millisecond)

	r := e.must(0, "executions", "prune", "--older-than", "10ms", "--dry-run")
	if !strings.Contains(r.Stdout, "would delete  "+done) || !strings.Contains(r.Stdout, "would delete  "+failed) ||
		!strings.Contains(r.Stdout, "2 runs would be deleted (dry run: nothing was)") {
		t.Errorf("dry run:\n%s", r.Stdout)
	}
	if r := e.must(0, "executions", "prune", "--older-than", "30d"); r.Stdout != "0 runs deleted\n" {
		t.Errorf("prune of nothing old enough printed %q", r.Stdout)
	}
	j := e.must(0, "executions", "prune", "--older-than", "10ms", "--status", "failed", "--json")
	var rm engine.Removal
	if err := json.Unmarshal([]byte(j.Stdout), &rm); err != nil || len(rm.Removed) != 1 || rm.Removed[0].ID != failed || rm.Removed[0].Status != engine.RunFailed {
		t.Errorf("prune --status failed --json: %v\n%s", err, j.Stdout)
	}
	if l := e.must(0, "executions", "list"); !strings.Contains(l.Stdout, done) || strings.Contains(l.Stdout, failed) {
		t.Errorf("list after prune:\n%s", l.Stdout)
	}
	if r := e.must(2, "executions", "prune", "--older-than", "thirty days"); !strings.Contains(r.Stderr, "30d") {
		t.Errorf("a bad age does not say how to write one:\n%s", r.Stderr)
	}
}

// A replay whose source was removed by hand says its reused steps are
// lost, and a replay of it runs them again.
func TestE2EGetOfAReplayWhoseSourceWasRemovedByHand(t *testing.T) {
	e, src, rep := replayedFromDraft(t)
	if err := os.RemoveAll(filepath.Join(e.Home, "runs", src)); err != nil {
		t.Fatal(err)
	}
	g := e.must(0, "executions", "get", rep)
	if strings.Contains(g.Stdout, "pending") || !strings.Contains(g.Stdout, "step research was reused from run "+src+", which is gone") ||
		!strings.Contains(g.Stdout, "kitaru replay "+rep) {
		t.Errorf("get of a replay whose source is gone:\n%s", g.Stdout)
	}
	before := e.count("research.done")
	e.must(0, "replay", rep, "--quiet")
	if e.count("research.done") != before+1 {
		t.Errorf("the replay of it did not run research again")
	}
}

// diff names the input and the steps that differ, and what each run has.
func TestE2EDiff(t *testing.T) {
	e, a, b := replayedWith(t, "--input", "other=z")

	var d engine.RunDiff
	j := e.must(0, "executions", "diff", a, b, "--json")
	if err := json.Unmarshal([]byte(j.Stdout), &d); err != nil {
		t.Fatalf("%v\n%s", err, j.Stdout)
	}
	if d.Same || len(d.Inputs) != 1 || d.Inputs[0].Name != "other" || d.Inputs[0].A != "x" || d.Inputs[0].B != "z" {
		t.Errorf("diff inputs: %+v", d.Inputs)
	}
	differs := map[string]string{}
	for _, s := range d.Steps {
		differs[s.ID] = strings.Join(s.Differs, ",")
	}
	want := map[string]string{"research": "", "side": "inputs,output", "draft": "", "final": "inputs,output"}
	for id, w := range want {
		if differs[id] != w {
			t.Errorf("step %s differs in %q, want %q", id, differs[id], w)
		}
	}
	r := e.must(0, "executions", "diff", a, b)
	for _, s := range []string{`other  A: "x"  B: "z"`, `A: "side x"`, `B: "side z"`, "research  completed  completed (reused)  -"} {
		if !strings.Contains(r.Stdout, s) {
			t.Errorf("diff does not show %q:\n%s", s, r.Stdout)
		}
	}
	if r := e.must(0, "executions", "diff", a, a, "--json"); !strings.Contains(r.Stdout, `"same": true`) {
		t.Errorf("a run against itself:\n%s", r.Stdout)
	}
}
