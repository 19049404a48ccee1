package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/providers"
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
	te.writeSub(dir, "child.yaml", sleepyChild)
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
	resumeStopped(t, te, id, "B-A-C1")
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

// A kill -9 while a flow: tool's child run runs, then a resume of the
// parent: the loop's unrecorded call runs again and finds the child run
// it started (keyed by the call), which resumes; no model turn is asked
// twice and the child's finished step does not run again.
func TestFlowToolKillResume(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("digest", `{"text":"doc"}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	dir := t.TempDir()
	te.writeSub(dir, "main.yaml", `
name: main
tools:
  digest: {flow: child.yaml}
steps:
  research: {kind: llm, model: openai/gpt-4o-mini, prompt: Digest doc., tools: [digest]}
output: ${{ steps.research.output }}
`)
	te.writeSub(dir, "child.yaml", sleepyChild)
	env := []string{"KITARU_TEST_FLOW=" + filepath.Join(dir, "main.yaml"),
		"KITARU_TEST_MODELS=1", "OPENAI_API_KEY=sk-test-123456789", "OPENAI_BASE_URL=" + srv.URL, providers.EnvMockResponse + "="}
	child, line := startChild(t, "run", te.home, env, "run ")
	awaitSleeper(t, te)
	sigkill(child.Process.Pid)
	wantKilled(t, child)
	if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Resume(t.Context(), strings.TrimPrefix(line, "run "), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if asked := srv.Asked(); len(asked) != 2 || asked[1] != 1 || asked[2] != 1 {
		t.Errorf("asked %v, want each turn once", asked)
	}
	if tc := step(t, run, "research").Turns[0].ToolCalls[0]; tc.Output != "doc-C1" {
		t.Errorf("the call's result is %+v", tc)
	}
	if c1, c2 := te.count("c1"), te.count("c2"); c1 != 1 || c2 != 2 {
		t.Errorf("c1 ran %d times, c2 %d; want 1 and 2", c1, c2)
	}
	if runs, _ := listRuns(te.store); len(runs) != 2 {
		t.Errorf("%d runs, want the parent and one child", len(runs))
	}
}

// sleepyChild is a sub-flow whose second step sleeps until COUNTER/resumed
// exists: the place to kill its run.
const sleepyChild = `
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
      echo "${{ inputs.text }}-${{ steps.c1.output }}"
output: ${{ steps.c2.output }}
`
