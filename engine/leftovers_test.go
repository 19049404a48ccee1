//go:build linux

package engine

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A run whose kitaru was killed (kill -9) left step b's command running,
// orphaned. Whatever runs b again first stops it, so the two never run
// side by side: a retry, as a resume does, in place; a replay, in a new
// run, stops what the source run left of the steps it runs again. (Linux
// only: telling a recorded process group from a later one needs /proc.)
func TestRunningAgainStopsWhatAKilledRunLeft(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"retry", "replay"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			flowFile := filepath.Join(t.TempDir(), "crash.yaml")
			if err := os.WriteFile(flowFile, []byte(strings.ReplaceAll(crashFlow, "COUNTER", te.counter)), 0o600); err != nil {
				t.Fatal(err)
			}
			child, line := startChild(t, "run", te.home, []string{"KITARU_TEST_FLOW=" + flowFile}, "run ")
			id := strings.TrimPrefix(line, "run ")
			pidFile := filepath.Join(te.counter, "sleep.pid")
			waitFor(t, func() bool { _, err := os.Stat(pidFile); return err == nil })
			orphan := readPIDFile(t, pidFile)
			t.Cleanup(func() { sigkill(orphan) })
			// The group is noted just after the command starts, which may
			// have written its pid first: kill only once it is noted.
			waitFor(t, func() bool {
				rec, _ := filepath.Glob(filepath.Join(te.home, "runs", id, "steps", "b", "pgid*"))
				return len(rec) > 0
			})
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			wantKilled(t, child)
			if syscall.Kill(orphan, 0) != nil {
				t.Fatal("the killed run's command did not outlive it; nothing to test")
			}
			if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			var run *Run
			var err error
			if how == "retry" {
				run, err = te.eng.Retry(t.Context(), id, 0)
			} else {
				run, err = te.eng.Replay(t.Context(), ReplayOptions{Source: id})
			}
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if !processGone(orphan) {
				t.Errorf("after the %s, the killed run's step b left process %d running", how, orphan)
			}
			evs := te.events.of(EventLeftoverStopped)
			if len(evs) != 1 || evs[0].RunID != run.ID || evs[0].Step != "b" || evs[0].PGID <= 0 {
				t.Errorf("leftover events %+v; want one for step b of run %s", evs, run.ID)
			}
			want := "stopped what run " + id + " left running of it before running it again"
			if how == "retry" {
				want = "stopped what was left running of its previous attempt before running it again"
			}
			lines, _ := te.store.Logs(t.Context(), run.ID, 0)
			said := false
			for _, l := range lines {
				said = said || l.Step == "b" && strings.Contains(l.Text, want)
			}
			if !said {
				t.Errorf("the %s's log does not say what it stopped: %+v", how, lines)
			}
		})
	}
}
