package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

const stopFlow = `
name: stopper
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A
  slow:
    kind: checkpoint
    needs: [a]
    run: |
      echo x >> COUNTER/slow
      echo going to sleep
      if [ ! -f COUNTER/go ]; then sleep 30 & echo $! > COUNTER/sleep.pid; wait; fi
      echo woke
  after:
    kind: checkpoint
    needs: [slow]
    run: echo x >> COUNTER/after; echo done
`

// Ctrl-C: the context ends, the in-flight step is stopped, the run is
// interrupted (returned, not an error) and resume finishes it.
func TestInterruptAndResume(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	eng := New(Config{Store: te.store, Observer: ObserverFunc(func(e Event) {
		if e.Type == EventStepStarted && e.Step == "slow" {
			go func() {
				waitFor(t, func() bool { _, err := os.Stat(filepath.Join(te.counter, "sleep.pid")); return err == nil })
				cancel()
			}()
		}
	})})
	f := te.flow(stopFlow)
	run, err := eng.Start(ctx, StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunInterrupted)
	if run.Ending == nil || run.Ending.Code != runstore.EndInterrupted || run.Error != nil {
		t.Errorf("ending %+v, error %v; want interrupted, no error", run.Ending, run.Error)
	}
	if s := step(t, run, "slow"); s.Status != StepPending {
		t.Fatalf("the stopped step is %s; it must stay unrecorded so resume runs it", s.Status)
	}
	if pid := readPIDFile(t, filepath.Join(te.counter, "sleep.pid")); !processGone(pid) {
		t.Errorf("the stopped step's process %d survived", pid)
	}
	os.WriteFile(filepath.Join(te.counter, "go"), nil, 0o600)
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if te.count("a") != 1 || te.count("slow") != 2 || te.count("after") != 1 {
		t.Errorf("counts a=%d slow=%d after=%d", te.count("a"), te.count("slow"), te.count("after"))
	}
}

// Cancel from elsewhere: the cancel request is seen between steps and the
// run ends cancelled; Logs --follow streams until the run stops.
func TestCancelWhileRunningAndFollowLogs(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(stopFlow)
	type result struct {
		run *Run
		err error
	}
	done := make(chan result, 1)
	started := make(chan string, 1)
	eng := New(Config{Store: te.store, Observer: ObserverFunc(func(e Event) {
		if e.Type == EventStepStarted && e.Step == "slow" {
			started <- e.RunID
		}
	})})
	go func() {
		r, err := eng.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
		done <- result{r, err}
	}()
	id := <-started
	var lines []string
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- te.eng.Logs(t.Context(), id[:5], "slow", true, func(l LogLine) error {
			lines = append(lines, l.Text)
			return nil
		})
	}()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(te.counter, "sleep.pid")); return err == nil })
	live, err := te.eng.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, live, RunRunning)
	if a, s, x := step(t, live, "a").Status, step(t, live, "slow").Status, step(t, live, "after").Status; a != StepCompleted || s != StepRunning || x != StepPending {
		t.Errorf("while running: a %s, slow %s, after %s", a, s, x)
	}
	got, err := te.eng.Cancel(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, RunRunning)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantStatus(t, res.run, RunCancelled)
	if e := res.run.Ending; e == nil || e.Code != runstore.EndCancelled || res.run.Error != nil {
		t.Errorf("ending %+v, error %v; want cancelled, no error", e, res.run.Error)
	}
	if te.count("after") != 0 {
		t.Error("a step ran after the cancel")
	}
	if err := <-logsDone; err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, "|") != "going to sleep" {
		t.Errorf("followed logs %q", lines)
	}
	if err := te.eng.Logs(t.Context(), id, "nope", false, func(LogLine) error { return nil }); err == nil || !strings.Contains(err.Error(), "a, slow, after") {
		t.Errorf("logs of an unknown step: %v", err)
	}
}

func readPIDFile(t *testing.T, p string) int {
	t.Helper()
	// The shell makes the file before it writes the pid into it: a read
	// in between finds it empty, and a pid of 0 would mean this process's
	// own group to kill.
	var pid int
	waitFor(t, func() bool {
		data, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		text := strings.TrimSpace(string(data))
		n, err := strconv.Atoi(text)
		if err != nil || n <= 0 || !strings.HasSuffix(string(data), "\n") {
			return false
		}
		pid = n
		return true
	})
	return pid
}
