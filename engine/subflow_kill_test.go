package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A kill -9 while the child run of a flow step runs, then a resume of the
// parent: the parent finds the child it started and resumes it, so the
// steps the child had finished (and the parent's) do not run again.
func TestSubFlowKillResume(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	dir := t.TempDir()
	te.writeSub(dir, "main.yaml", `
name: main
steps:
  a: {kind: checkpoint, run: 'echo x >> COUNTER/a; echo A'}
  sub: {kind: flow, flow: child.yaml, inputs: {text: "${{ steps.a.output }}"}}
  b: {kind: checkpoint, run: 'echo x >> COUNTER/b; echo "B-${{ steps.sub.output }}"'}
output: ${{ steps.b.output }}
`)
	te.writeSub(dir, "child.yaml", `
name: child
inputs:
  text: {type: string}
steps:
  c1: {kind: checkpoint, run: 'echo x >> COUNTER/c1; echo C1'}
  c2:
    kind: checkpoint
    needs: [c1]
    run: |
      echo x >> COUNTER/c2
      if [ ! -f COUNTER/resumed ]; then sleep 30 & echo $! > COUNTER/sleep.pid; wait; fi
      echo "${{ inputs.text }}${{ steps.c1.output }}"
output: ${{ steps.c2.output }}
`)
	child, line := startChild(t, "run", te.home, []string{"KITARU_TEST_FLOW=" + filepath.Join(dir, "main.yaml")}, "run ")
	id := strings.TrimPrefix(line, "run ")
	awaitSleeper(t, te)
	sigkill(child.Process.Pid)
	wantKilled(t, child)
	if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	runs, err := listRuns(te.store)
	if err != nil || len(runs) != 2 {
		t.Fatalf("%d runs before the resume (%v), want the parent and its child", len(runs), err)
	}
	resumeStopped(t, te, id, "B-AC1")
	for s, want := range map[string]int{"a": 1, "c1": 1, "c2": 2, "b": 1} {
		if got := te.count(s); got != want {
			t.Errorf("step %s ran %d times, want %d", s, got, want)
		}
	}
	if runs, _ := listRuns(te.store); len(runs) != 2 {
		t.Errorf("%d runs after the resume, want 2: the child was started again", len(runs))
	}
}

// awaitSleeper waits until a step's command sleeps (it wrote the sleep's
// pid to COUNTER/sleep.pid), and kills the sleep when the test ends.
func awaitSleeper(t *testing.T, te *testEnv) {
	t.Helper()
	pidFile := filepath.Join(te.counter, "sleep.pid")
	waitFor(t, func() bool { _, err := os.Stat(pidFile); return err == nil })
	t.Cleanup(func() {
		data, _ := os.ReadFile(pidFile)
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 {
			sigkill(pid)
		}
	})
}
