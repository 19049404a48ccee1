package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// runFlowChild runs the flow in $KITARU_TEST_FLOW in a child process and,
// when $KITARU_TEST_KILL_AT names a hook point, SIGKILLs itself the
// $KITARU_TEST_KILL_N-th time it gets there. With $KITARU_TEST_TORN it
// first leaves what a write cut short leaves: a partial temp file next to
// the record and a torn journal line. With $KITARU_TEST_RESUME it
// resumes that run instead of starting one.
func runFlowChild(string) error {
	home := os.Getenv("KITARU_HOME")
	src, err := os.ReadFile(os.Getenv("KITARU_TEST_FLOW"))
	if err != nil {
		return err
	}
	// Named by its path, so that its sub-flows are found beside it.
	f, err := flowspec.Parse(os.Getenv("KITARU_TEST_FLOW"), src, flowspec.Options{})
	if err != nil {
		return err
	}
	point := os.Getenv("KITARU_TEST_KILL_AT")
	n, _ := strconv.Atoi(os.Getenv("KITARU_TEST_KILL_N"))
	var hits atomic.Int32
	var runID atomic.Value
	setCrashHook(func(p, path string) {
		if p != point || int(hits.Add(1)) != n {
			return
		}
		if os.Getenv("KITARU_TEST_TORN") != "" {
			if path != "" {
				_ = os.WriteFile(filepath.Join(filepath.Dir(path), ".result.json.tmp-torn"), []byte(`{"id": "b", "sta`), 0o600)
			}
			if id, ok := runID.Load().(string); ok {
				j, _ := os.OpenFile(filepath.Join(home, "runs", id, "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
				_, _ = j.WriteString(`{"type":"step_fin`)
				_ = j.Close()
			}
		}
		sigkill(os.Getpid())
	})
	var models Models
	if os.Getenv("KITARU_TEST_MODELS") != "" {
		models = providers.Source{} // the environment's OPENAI_BASE_URL
	}
	eng := New(Config{Store: filestore.New(home), Parallel: 1, Models: models, Observer: ObserverFunc(func(e Event) {
		if e.Type == EventRunStarted {
			runID.Store(e.RunID)
			fmt.Println("run", e.RunID)
		}
	})})
	if id := os.Getenv("KITARU_TEST_RETRY_FLOW"); id != "" {
		// Retries that run against the flow given (retry --flow).
		fmt.Println("run", id)
		_, err = eng.Retry(context.Background(), id, 0, WithFlow(f))
		return err
	}
	if id := os.Getenv("KITARU_TEST_RESUME"); id != "" {
		// Resumes that run instead (its flow is the one recorded).
		fmt.Println("run", id)
		_, err = eng.Resume(context.Background(), id, 0)
		return err
	}
	in, err := f.BindInputs(nil)
	if err != nil {
		return err
	}
	_, err = eng.Start(context.Background(), StartOptions{Flow: f, Inputs: in})
	return err
}

const crashFlow = `
name: crash
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A
  b:
    kind: checkpoint
    run: |
      echo x >> COUNTER/b
      if [ ! -f COUNTER/resumed ]; then sleep 30 & echo $! > COUNTER/sleep.pid; wait; fi
      echo B-${{ steps.a.output }}
  c:
    kind: checkpoint
    run: echo x >> COUNTER/c; echo C-${{ steps.b.output }}
  d:
    kind: checkpoint
    value: ${{ steps.c.output + "!" }}
output: ${{ steps.d.output }}
`

// TestCrashResume kills a real process running a flow at several points and
// checks that resume completes the run with every finished step run once.
func TestCrashResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		killAt string // hook point; "" kills while step b sleeps
		n      int    // which time the point is reached
		torn   bool
		bRuns  int // b is the step in flight: it runs again unless recorded
	}{
		{name: "while a step sleeps", bRuns: 2},
		{name: "before the record", killAt: "step:before-record", n: 2, bRuns: 2},
		{name: "during the record write", killAt: "record:before-write", n: 2, torn: true, bRuns: 2},
		{name: "right after the record write", killAt: "record:after-write", n: 2, bRuns: 1},
		{name: "after the record, before the journal", killAt: "step:after-record", n: 2, torn: true, bRuns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newFileEnv(t)
			flowFile := filepath.Join(t.TempDir(), "crash.yaml")
			src := strings.ReplaceAll(crashFlow, "COUNTER", te.counter)
			if tt.killAt != "" {
				// Step b does not sleep here: the hook is the crash.
				if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=" + tt.killAt, "KITARU_TEST_KILL_N=" + strconv.Itoa(tt.n)}
			if tt.torn {
				env = append(env, "KITARU_TEST_TORN=1")
			}
			child, line := startChild(t, "run", te.home, env, "run ")
			id := strings.TrimPrefix(line, "run ")
			if tt.killAt == "" {
				awaitSleeper(t, te)
				// While the child holds the run, a resume is refused.
				_, err := te.eng.Resume(t.Context(), id, 0)
				var he *HeldError
				if !errors.As(err, &he) || he.Holder.PID != child.Process.Pid {
					t.Fatalf("resume while the child runs: %v", err)
				}
				if err := child.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			wantKilled(t, child)
			if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			resumeCrashed(t, te, id, map[string]int{"a": 1, "b": tt.bRuns, "c": 1})
		})
	}
}

// killForeachRun runs a foreach step of four items in a child process with
// --parallel 1 and kills it (SIGKILL) while item c runs: a and b have
// records, c and d none, the step none, and the run's meta says running.
// It returns the run's id and where item c's command wrote its pid; from
// then on c finishes when it runs.
func killForeachRun(t *testing.T, te *testEnv) (string, string) {
	t.Helper()
	flowFile := filepath.Join(t.TempDir(), "fan.yaml")
	src := strings.ReplaceAll(`
name: fan
inputs:
  xs: {type: list, default: [a, b, c, d]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.xs
    run: |
      echo x >> COUNTER/${{ item }}
      if [ ${{ item }} = c ] && [ ! -f COUNTER/resumed ]; then sleep 30 & echo $! > COUNTER/sleep.pid; wait; fi
      echo ${{ item }}${{ item }}
output: ${{ join(steps.each.output, " ") }}
`, "COUNTER", te.counter)
	if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	child, line := startChild(t, "run", te.home, []string{"KITARU_TEST_FLOW=" + flowFile}, "run ")
	id := strings.TrimPrefix(line, "run ")
	// An item frees its slot while its record is written, so c can start
	// before b's record is down: wait for it, or the kill may find b
	// unrecorded too (then run again on resume, as at-least-once allows).
	rec := filepath.Join(te.files.StepDir(id, "each"), "items", "1.json")
	waitFor(t, func() bool { _, err := os.Stat(rec); return err == nil })
	pidFile := killWhileSleeping(t, te, child)
	_ = child.Wait()
	if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return id, pidFile
}

// A foreach step killed part-way: resume redoes only the items not done.
func TestCrashResumeForeach(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	id, pidFile := killForeachRun(t, te)
	run, err := te.eng.Resume(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "aa bb cc dd" {
		t.Errorf("output %#v", run.Output)
	}
	// Item c's command outlived the child; the resume stopped it before
	// running the item again.
	if pid := readPIDFile(t, pidFile); !processGone(pid) {
		t.Errorf("the killed run's item c left process %d running", pid)
	}
	if evs := te.events.of(EventLeftoverStopped); len(evs) != 1 || evs[0].Step != "each" || evs[0].Item == nil || *evs[0].Item != 2 || evs[0].PGID <= 0 {
		t.Errorf("leftover events %+v; want one for item 2 of each", evs)
	}
	// With --parallel 1 in the child, a and b finished, c was running, d
	// had not started.
	for x, want := range map[string]int{"a": 1, "b": 1, "c": 2, "d": 1} {
		if got := te.count(x); got != want {
			t.Errorf("item %s ran %d times, want %d", x, got, want)
		}
	}
}

// A replay of a run killed in a foreach step reuses the items it finished
// and says of the others, and of the step, that the source has no record
// of them: they are not new.
func TestReplayOfKilledForeachRun(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	id, _ := killForeachRun(t, te)
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: id})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	wantWhy(t, run, "each", id, Reason{Code: runstore.ReasonNotRun})
	var got []Reason
	for _, it := range step(t, run, "each").Items {
		got = append(got, whyOf(it.Why, id))
	}
	matched, notRun := Reason{Code: runstore.ReasonMatched, Run: "SRC"}, Reason{Code: runstore.ReasonNotRun, Run: "SRC"}
	if want := []Reason{matched, matched, notRun, notRun}; !reflect.DeepEqual(got, want) {
		t.Errorf("items' reasons %+v, want %+v", got, want)
	}
}

// TestCrashDuringCreation kills a process at every point of creating a run:
// the run then either does not exist at all (and a later run is not
// bothered by what was left) or exists whole, reads as interrupted and
// resumes to completion.
func TestCrashDuringCreation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		point  string
		exists bool
	}{
		{"create:dir", false},
		{"create:written", false},
		{"create:renamed", true},
		{"create:done", true},
	} {
		t.Run(tt.point, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			flowFile := filepath.Join(t.TempDir(), "crash.yaml")
			src := strings.ReplaceAll(crashFlow, "COUNTER", te.counter)
			if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			child, _ := startChild(t, "run", te.home, []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=" + tt.point, "KITARU_TEST_KILL_N=1"}, "")
			wantKilled(t, child)
			metas, err := listRuns(te.store)
			if err != nil {
				t.Fatalf("list after the kill: %v", err)
			}
			if !tt.exists {
				if len(metas) != 0 {
					t.Fatalf("a run killed at %s is visible: %+v", tt.point, metas[0])
				}
				if _, err := runstore.Resolve(bg, te.store, "last"); !errors.Is(err, ErrNotFound) {
					t.Errorf("last after the kill: %v", err)
				}
				left, _ := filepath.Glob(filepath.Join(te.files.Root(), ".creating-"+"*"))
				if len(left) != 1 {
					t.Fatalf("leftovers %v; want the one directory being built", left)
				}
				// A run started meanwhile is not bothered; the leftover
				// goes once it is old.
				run := te.start(te.flow(crashFlow), nil)
				wantStatus(t, run, RunCompleted)
				old := time.Now().Add(-2 * creatingGrace)
				if err := os.Chtimes(left[0], old, old); err != nil {
					t.Fatal(err)
				}
				if metas, err := listRuns(te.store); err != nil || len(metas) != 1 {
					t.Fatalf("list: %v, %v", metas, err)
				}
				if _, err := os.Stat(left[0]); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the old leftover %s was not swept: %v", left[0], err)
				}
				return
			}
			if len(metas) != 1 {
				t.Fatalf("a run killed at %s: %d runs listed, want 1", tt.point, len(metas))
			}
			resumeCrashed(t, te, metas[0].ID, map[string]int{"a": 1, "b": 1, "c": 1})
		})
	}
}

// resumeStopped checks that a run whose process died or failed to write
// reads as interrupted, that resume completes it with output want, and
// that no damaged journal line is left (a torn one is repaired).
func resumeStopped(t *testing.T, te *testEnv, id string, want string) {
	t.Helper()
	got, err := te.eng.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, RunInterrupted)
	run, err := te.eng.Resume(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != want {
		t.Errorf("output %#v, want %q", run.Output, want)
	}
	if _, warns, err := journal(te.store, id); err != nil || len(warns) != 0 {
		t.Errorf("journal after the resume: %v, warnings %q", err, warns)
	}
}

// wantKilled waits for a child that is to die of SIGKILL.
func wantKilled(t *testing.T, child *exec.Cmd) {
	t.Helper()
	err := child.Wait()
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed: %v", err)
	}
}

// resumeCrashed checks that a run of crashFlow whose process was killed
// resumes to completion, each step having run as often as counts says.
func resumeCrashed(t *testing.T, te *testEnv, id string, counts map[string]int) {
	t.Helper()
	resumeStopped(t, te, id, "C-B-A!")
	for s, want := range counts {
		if got := te.count(s); got != want {
			t.Errorf("step %s ran %d times, want %d", s, got, want)
		}
	}
}

// The moment a new run appears under its name it is already held: nobody
// ever sees it running without a holder, which reads as interrupted (and
// would let a resume race the run's own start).
func TestCreatedRunIsHeldWhenItAppears(t *testing.T) {
	te := newFileEnv(t)
	var seen []string
	setCrashHook(func(p, path string) {
		if p != "create:renamed" {
			return
		}
		id := filepath.Base(path)
		h, err := te.store.Holder(bg, id)
		got, gerr := New(Config{Store: filestore.New(te.home)}).Get(context.Background(), id)
		seen = append(seen, fmt.Sprintf("held=%v err=%v get=%v", h != nil, err, gerr))
		if gerr == nil {
			seen = append(seen, string(got.Status))
		}
	})
	defer setCrashHook(nil)
	run := te.start(te.flow("name: x\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), nil)
	wantStatus(t, run, RunCompleted)
	if want := []string{"held=true err=<nil> get=<nil>", "running"}; strings.Join(seen, "; ") != strings.Join(want, "; ") {
		t.Fatalf("when the run appeared: %q, want %q", seen, want)
	}
}

// killWhileSleeping SIGKILLs child once the command it runs wrote the pid
// of its sleep to COUNTER/sleep.pid (the sleep is killed when the test
// ends), and returns that file.
func killWhileSleeping(t *testing.T, te *testEnv, child *exec.Cmd) string {
	t.Helper()
	pidFile := filepath.Join(te.counter, "sleep.pid")
	waitFor(t, func() bool { _, err := os.Stat(pidFile); return err == nil })
	t.Cleanup(func() {
		if pid := readPIDFile(t, pidFile); pid > 0 {
			sigkill(pid)
		}
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pidFile
}
