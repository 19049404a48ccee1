package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EListSaysWhatItLeftOut: a list cut by --limit says how many runs
// there are, a filter that matches nothing says what there is instead of
// "no runs yet", and a prefix of "kr-" is a prefix of every id.
func TestE2EListSaysWhatItLeftOut(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.flow("f.yaml", "name: f\nsteps:\n  a: {kind: checkpoint, run: echo hi}\n")
	for range 3 {
		e.must(0, "run", f, "--quiet")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--limit", "2"}, "2 of 3 runs shown; --limit N shows more, --limit 0 all"},
		{[]string{"--limit", "2", "--status", "completed"}, "2 of 3 runs shown"},
		{[]string{"--flow", "nosuch"}, `no runs of flow "nosuch"; there are 3 runs in all, of flow f`},
		{[]string{"--status", "failed"}, "no failed runs; there are 3 runs in all, of flow f"},
	} {
		r := e.must(0, append([]string{"executions", "list"}, tt.args...)...)
		if !strings.Contains(r.Stdout, tt.want) {
			t.Errorf("list %s: want %q in\n%s", strings.Join(tt.args, " "), tt.want, r.Stdout)
		}
	}
	if r := e.must(0, "executions", "list", "--limit", "3"); strings.Contains(r.Stdout, "shown") {
		t.Errorf("a list showing every run says some were left out:\n%s", r.Stdout)
	}
	for _, ref := range []string{"kr", "k"} {
		r := e.run("executions", "get", ref)
		if r.Code == 0 || !strings.Contains(r.Stderr, "matches 3 runs") {
			t.Errorf("get %s: want it ambiguous among the 3 runs, got %s", ref, r)
		}
	}
}

// TestE2EMissingSecretSaysItOnce: a step's secret that does not exist
// fails the step with what to do said once, and the file backend's
// warning is printed once, as kitaru's.
func TestE2EMissingSecretSaysItOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.setenv("KITARU_SECRETS_BACKEND", "file")
	f := e.flow("s.yaml", "name: s\nsteps:\n  a: {kind: checkpoint, run: echo $K, secrets: [nosuch]}\n  b: {kind: checkpoint, run: echo $K, secrets: [nosuch]}\n")
	r := e.must(1, "run", f)
	// Once as the warning before the run starts, then once for each step.
	if n := strings.Count(r.Stderr, "kitaru secrets set nosuch"); n != 3 || strings.Count(r.Stderr, `warning: secret "nosuch"`) != 1 {
		t.Errorf("the hint is given %d times for 2 steps and a warning:\n%s", n, r.Stderr)
	}
	if n := strings.Count(r.Stderr, "NOT encrypted"); n != 1 || !strings.Contains(r.Stderr, "kitaru: warning: KITARU_SECRETS_BACKEND=file") {
		t.Errorf("the file backend's warning is shown %d times, or not as kitaru's:\n%s", n, r.Stderr)
	}
}

// TestE2EGetSaysAWaitTimedOut: once a wait's timeout has passed, get says
// so, and what to do, before anyone tries to answer.
func TestE2EGetSaysAWaitTimedOut(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.flow("w.yaml", "name: w\nsteps:\n  ok: {kind: wait, question: \"Go?\", timeout: 1s}\n")
	id := announcedID(t, e.must(ExitWaiting, "run", f, "--quiet").Stdout)
	if r := e.must(0, "executions", "get", id); !strings.Contains(r.Stdout, "answer by ") || strings.Contains(r.Stdout, "ran out") {
		t.Errorf("before its timeout:\n%s", r.Stdout)
	}
	time.Sleep(1100 * time.Millisecond)
	r := e.must(0, "executions", "get", id)
	if !strings.Contains(r.Stdout, "its timeout ran out at ") || !strings.Contains(r.Stdout, "`kitaru retry "+id+"` asks again") ||
		strings.Contains(r.Stdout, "answer with") {
		t.Errorf("after its timeout:\n%s", r.Stdout)
	}
}

// An empty --value (an unset "$VAR") does not answer a wait.
func TestE2EEmptyValueDoesNotAnswer(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.flow("w.yaml", "name: w\nsteps:\n  ok: {kind: wait, question: \"Go?\"}\n")
	id := announcedID(t, e.must(ExitWaiting, "run", f, "--quiet").Stdout)
	if r := e.must(ExitUsage, "input", id, "--value", ""); !strings.Contains(r.Stderr, "--value is empty") {
		t.Errorf("an empty --value: %s", r)
	}
	if st := e.record(id).Status; st != "waiting" {
		t.Errorf("the run is %s after an empty --value, want waiting", st)
	}
	e.must(0, "input", id, "--value", `""`, "--quiet")
}

// A replay whose reused record has gone from its source says to replay
// the replay from that step, not the source (which may be gone).
func TestE2EMissingReusedRecordAdvisesTheReplay(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.flow("ab.yaml", "name: ab\nsteps:\n  a:\n    kind: checkpoint\n    run: echo one\n  b:\n    kind: checkpoint\n    run: echo \"${{ steps.a.output }} two\"\n")
	src := announcedID(t, e.must(0, "run", f, "--quiet").Stdout)
	rp := announcedID(t, e.must(0, "replay", src, "--from", "b", "--quiet").Stdout)
	if err := os.Remove(filepath.Join(e.Home, "runs", src, "steps", "a", "result.json")); err != nil {
		t.Fatal(err)
	}
	got := e.must(0, "executions", "get", rp)
	if want := fmt.Sprintf("`kitaru replay %s --from a`", rp); !strings.Contains(got.Stdout, want) {
		t.Errorf("get of the replay does not advise %s:\n%s", want, got.Stdout)
	}
}
