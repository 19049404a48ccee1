package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// kitaru run is SIGKILLed at many moments of its first milliseconds, while
// it creates the run: afterwards every run directory is a whole run that
// `executions list` shows and `resume` completes; none is half-made.
func TestE2EKilledWhileCreatingARun(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("one.yaml", "name: one\nsteps:\n  a:\n    kind: checkpoint\n    run: echo hi\noutput: ${{ steps.a.output }}\n")
	kills := 0
	for d := time.Duration(0); d <= 40*time.Millisecond; d += 2 * time.Millisecond {
		kills++
		cmd := e.command("run", flow, "--quiet")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	r := e.must(0, "executions", "list", "--json", "--limit", "0")
	if r.Stderr != "" {
		t.Errorf("list after the kills warns:\n%s", r.Stderr)
	}
	var runs []engine.Run
	if err := json.Unmarshal([]byte(r.Stdout), &runs); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.Stdout)
	}
	listed := map[string]engine.RunStatus{}
	for _, run := range runs {
		listed[run.ID] = run.Status
	}
	dirs, _ := filepath.Glob(filepath.Join(e.Home, "runs", "kr-*"))
	for _, d := range dirs {
		id := filepath.Base(d)
		st, ok := listed[id]
		if !ok {
			t.Errorf("%s is in the store but not a run `executions list` shows (files: %v)", id, lsNames(d))
			continue
		}
		switch st {
		case engine.RunInterrupted:
			if r := e.run("resume", id, "--quiet"); r.Code != 0 || !strings.HasSuffix(strings.TrimSpace(r.Stdout), "hi") {
				t.Errorf("resume %s: %s", id, r)
			}
		case engine.RunCompleted:
		default:
			t.Errorf("run %s is %s after a kill", id, st)
		}
	}
	t.Logf("%d kills left %d runs", kills, len(dirs))
}

func lsNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A run directory with nothing in it (what a kill during creation used to
// leave) and a run whose run.json was damaged: every command names the file
// and says what to do, none crashes, and `executions list` shows both.
func TestE2EDamagedRunsAreNamed(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("w.yaml", "name: w\nsteps:\n  a:\n    kind: wait\n    question: ok?\n")
	e.must(ExitWaiting, "run", flow, "--quiet")
	good := e.record("last")
	e.must(ExitWaiting, "run", flow, "--quiet")
	bad := e.record("last")
	badFile := filepath.Join(e.Home, "runs", bad.ID, "run.json")
	if err := os.WriteFile(badFile, []byte(`{"id": "`+bad.ID+`", "sta`), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := "kr-aaaaaaaa"
	if err := os.MkdirAll(filepath.Join(e.Home, "runs", empty), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, file string }{{empty, filepath.Join(e.Home, "runs", empty, "run.json")}, {bad.ID, badFile}} {
		for _, args := range [][]string{
			{"executions", "get", c.id}, {"resume", c.id}, {"retry", c.id}, {"replay", c.id},
			{"input", c.id, "--value", `"yes"`}, {"input", c.id, "--abort"},
			{"executions", "cancel", c.id}, {"executions", "logs", c.id},
		} {
			r := e.run(args...)
			if r.Code == 0 || strings.Contains(r.Stderr, "internal error") ||
				!strings.Contains(r.Stderr, c.file) || !strings.Contains(r.Stderr, "moving") {
				t.Errorf("kitaru %s: want a failure naming %s and what to do, got %s", strings.Join(args, " "), c.file, r)
			}
		}
	}
	r := e.must(0, "executions", "list")
	for _, want := range []string{good.ID + ` +w +waiting`, bad.ID + ` +- +damaged`, empty + ` +- +damaged`, regexp.QuoteMeta(badFile), "moving"} {
		if !regexp.MustCompile(want).MatchString(r.Stdout) {
			t.Errorf("list does not show %q:\n%s", want, r.Stdout)
		}
	}
	r = e.must(0, "executions", "list", "--json")
	var runs []engine.Run
	if err := json.Unmarshal([]byte(r.Stdout), &runs); err != nil || len(runs) != 1 || runs[0].ID != good.ID {
		t.Errorf("list --json: %v\n%s", err, r.Stdout)
	}
	if !strings.Contains(r.Stderr, badFile) || !strings.Contains(r.Stderr, empty) {
		t.Errorf("list --json does not name the damaged runs on stderr:\n%s", r.Stderr)
	}
	// The good run is untouched by all this.
	e.must(0, "input", good.ID, "--value", `"yes"`, "--quiet")
}

// After kill -9 the step's process group lives on as an orphan (here a
// loop that beats into a file). Resume stops it before running the step
// again, and says so; the new attempt never runs beside the old one.
func TestE2EResumeStopsWhatAKilledRunLeftRunning(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the orphaned processes")
	}
	flow := e.flow("orphan.yaml", `name: orphan
steps:
  beat:
    kind: checkpoint
    run: |
      if [ ! -f @D@/first.pgid ]; then
        echo $$ > @D@/first.pgid
        while :; do echo x >> @D@/beats; sleep 0.02; done
      fi
      wc -l < @D@/beats > @D@/beats.start
      sleep 0.3
      wc -l < @D@/beats > @D@/beats.end
      echo done
output: ${{ steps.beat.output }}
`)
	pgid := e.orphanAfterKill(flow)
	r := e.must(0, "resume", "last")
	if printedOutput(t, r.Stdout) != "done" {
		t.Errorf("resume printed %q, want done", r.Stdout)
	}
	want := fmt.Sprintf("stopped what was left running of its previous attempt (process group %d", pgid)
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("resume does not say it stopped the orphan (%q):\n%s", want, r.Stderr)
	}
	if live := liveInGroup(pgid); len(live) > 0 {
		t.Errorf("the old attempt's processes survived the resume: %q", live)
	}
	start, end := e.count("beats.start"), e.count("beats.end")
	b1, _ := os.ReadFile(filepath.Join(e.Dir, "beats.start"))
	b2, _ := os.ReadFile(filepath.Join(e.Dir, "beats.end"))
	if start != 1 || end != 1 || strings.TrimSpace(string(b1)) != strings.TrimSpace(string(b2)) {
		t.Errorf("the old attempt beat on while the step ran again: %q then %q", b1, b2)
	}
	e.wantOrphanStopped(pgid, "stopped what was left running of its previous attempt before running it again")
}

// orphanAfterKill runs flow, whose step beat starts writing beats and
// records its process group in first.pgid, kills kitaru with SIGKILL and
// waits for the orphan to beat on without it; it returns the group.
func (e *e2e) orphanAfterKill(flow string) int {
	e.t.Helper()
	cmd, _, _ := e.startUntil("beats", "run", flow)
	pgid := e.pid("first.pgid")
	e.t.Cleanup(func() { killGroup(pgid) })
	// kitaru notes the group just after it starts the command, which may
	// have beaten it to its first beat: killed before that, the group is
	// unknown to the next attempt (a window real kills rarely hit).
	waitFor(e.t, "kitaru to note the command's process group", func() bool {
		rec := e.groupNotes()
		return len(rec) > 0
	})
	if err := cmd.Process.Kill(); err != nil {
		e.t.Fatal(err)
	}
	_ = cmd.Wait()
	n := e.count("beats")
	waitFor(e.t, "the orphan to beat on", func() bool { return e.count("beats") > n+2 })
	return pgid
}

// groupNotes are the notes of step beat's process groups: in the run's
// directory (runs/), or for a shared store under processes/.
func (e *e2e) groupNotes() []string {
	var out []string
	for _, under := range []string{"", "processes"} {
		m, _ := filepath.Glob(filepath.Join(e.Home, under, "runs", "*", "steps", "beat", "pgid*"))
		out = append(out, m...)
	}
	return out
}

// wantOrphanStopped checks that nothing of group pgid lives on, that step
// beat's log says it was stopped (said), and that no record of it is left.
func (e *e2e) wantOrphanStopped(pgid int, said string) {
	e.t.Helper()
	if live := liveInGroup(pgid); len(live) > 0 {
		e.t.Errorf("the killed run's processes survived: %q", live)
	}
	logs := e.must(0, "executions", "logs", "last", "--step", "beat")
	if !strings.Contains(logs.Stdout, fmt.Sprintf("%s: process group %d", said, pgid)) {
		e.t.Errorf("the log does not say the orphan was stopped:\n%s", logs.Stdout)
	}
	if left := e.groupNotes(); len(left) > 0 {
		e.t.Errorf("process group records left behind: %v", left)
	}
}

// Cancelling a run a killed kitaru left interrupted stops what it left
// running too: no resume will run the step again to stop it.
func TestE2ECancelStopsWhatAKilledRunLeftRunning(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the orphaned processes")
	}
	flow := e.flow("orphan.yaml", `name: orphan
steps:
  beat:
    kind: checkpoint
    foreach: ${{ [1] }}
    run: |
      echo $$ > @D@/first.pgid
      while :; do echo x >> @D@/beats; sleep 0.02; done
`)
	pgid := e.orphanAfterKill(flow)
	e.must(0, "executions", "cancel", "last")
	e.wantOrphanStopped(pgid, "stopped what was left running of it as the run was cancelled")
}

// The advice for a damaged step record works as written: in a completed
// run, the replay it names runs the step again.
func TestE2EDamagedStepRecordAdviceWorks(t *testing.T) {
	e := newE2E(t)
	flow := e.flow("ab.yaml", "name: ab\nsteps:\n  a:\n    kind: checkpoint\n    run: echo one\n  b:\n    kind: checkpoint\n    run: echo \"${{ steps.a.output }} two\"\noutput: ${{ steps.b.output }}\n")
	e.must(0, "run", flow, "--quiet")
	run := e.record("last")
	rec := filepath.Join(e.Home, "runs", run.ID, "steps", "a", "result.json")
	if err := os.WriteFile(rec, []byte(`{"zz`), 0o600); err != nil {
		t.Fatal(err)
	}
	got := e.must(0, "executions", "get", run.ID)
	advice := fmt.Sprintf("`kitaru replay %s --from a`", run.ID)
	if !strings.Contains(got.Stdout+got.Stderr, rec) || !strings.Contains(got.Stdout+got.Stderr, advice) {
		t.Fatalf("executions get does not name %s and advise %s:\n%s", rec, advice, got)
	}
	if err := os.Rename(rec, rec+".bad"); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "replay", run.ID, "--from", "a", "--quiet")
	if !strings.HasSuffix(r.Stdout, "\none two\n") {
		t.Errorf("the advised replay printed %q, want the output \"one two\"", r.Stdout)
	}
	// A replay from further down reads the missing record: it runs that
	// step again, and says why.
	r = e.must(0, "replay", run.ID, "--from", "b")
	why := fmt.Sprintf("its record in run %s is missing, so it runs again", run.ID)
	if !strings.HasSuffix(r.Stdout, "\none two\n") || !strings.Contains(r.Stderr, why) {
		t.Errorf("a replay reading the missing record does not run it again saying %q:\n%s", why, r)
	}
}
