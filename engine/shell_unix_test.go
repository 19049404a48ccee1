//go:build unix

package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command that starts a background child which keeps stdout open ends
// with its main process: the child is killed with the group, the step
// succeeds with what was printed, and nothing of it outlives the run.
func TestShellBackgroundChildEndsWithTheCommand(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: bg
steps:
  spawn:
    kind: checkpoint
    run: sleep 100 & echo $! > COUNTER/bg; echo hi
`)
	began := time.Now()
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if got := step(t, run, "spawn").Output; got != "hi" {
		t.Errorf("output %q, want hi", got)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the run took %s: it waited for the background child", d)
	}
	wantGone(t, filepath.Join(te.counter, "bg"))
}

// What escaped the group (setsid) and still holds stdout cannot be
// killed with it: the step fails saying its output may be cut, in words.
// The command waits for it to be in its own session: until then it is
// in the group, and killed with it.
func TestShellOutputHeldOutsideTheGroup(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("needs setsid")
	}
	te := newEnv(t)
	f := te.flow(`
name: bg
steps:
  spawn:
    kind: checkpoint
    run: |
      setsid sh -c 'echo $$ > COUNTER/bg.tmp; mv COUNTER/bg.tmp COUNTER/bg; exec sleep 5' &
      while [ ! -f COUNTER/bg ]; do sleep 0.01; done
      echo hi
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	msg := ""
	if e := step(t, run, "spawn").Error; e != nil {
		msg = *e
	}
	if !strings.Contains(msg, "still held its stdout or stderr open") || strings.Contains(msg, "WaitDelay") {
		t.Errorf("error %q, want it to say what held the output, in words", msg)
	}
	if b, err := os.ReadFile(filepath.Join(te.counter, "bg")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// wantGone fails unless the process whose pid is in file p has ended (a
// zombie waiting for init counts as ended).
func wantGone(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		gone := syscall.Kill(pid, 0) == syscall.ESRCH
		if err == nil {
			s := string(st)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			gone = gone || len(f) > 0 && f[0] == "Z"
		}
		if gone {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the background child %d outlived the run", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
