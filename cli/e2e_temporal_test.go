package cli

import (
	"bufio"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/temporaltest"
)

// Runs on Temporal end to end: a real Temporal server (internal/
// temporaltest), the PostgreSQL store, and kitaru worker processes on two
// "machines".

const temporalFlow = `name: across
steps:
  a: {kind: checkpoint, run: echo x >> @D@/a.done; echo A}
  b: {kind: checkpoint, run: echo x >> @D@/b.done; echo B}
  each:
    kind: checkpoint
    needs: [a]
    foreach: '${{ ["x", "y", "z"] }}'
    run: echo x >> @D@/${{ item }}.done; echo ${{ item }}
  approve:
    kind: wait
    needs: [each, b]
    question: Ship ${{ steps.each.output }}?
    schema: {type: boolean}
  ship:
    kind: checkpoint
    if: steps.approve.output == true
    run: echo x >> @D@/ship.done; echo shipped
output: ${{ steps.ship.output }}
`

const slowFlow = `name: slow
steps:
  nap: {kind: checkpoint, run: echo x >> @D@/nap.started; echo first; sleep 3; echo second; echo x >> @D@/nap.second; sleep 60; echo x >> @D@/nap.done}
  after: {kind: checkpoint, needs: [nap], run: echo x >> @D@/after.done}
`

// onTemporal is two installations sharing a store and a fresh Temporal
// server's namespace.
func onTemporal(t *testing.T) (a, b *e2e) {
	a, b, _ = onTemporalServer(t)
	return a, b
}

// onTemporalServer is onTemporal, with the server.
func onTemporalServer(t *testing.T) (a, b *e2e, srv *temporaltest.Server) {
	srv = temporaltest.Start(t)
	a, b = twoMachines(t, teamStore(t))
	for _, m := range []*e2e{a, b} {
		m.setenv("KITARU_TEMPORAL_ADDRESS", srv.Address)
		m.setenv("KITARU_TEMPORAL_NAMESPACE", srv.Namespace)
	}
	return a, b, srv
}

// startWorker starts `kitaru worker` on m until the test ends (SIGTERM).
func startWorker(t *testing.T, m *e2e) *exec.Cmd {
	t.Helper()
	cmd := m.command("worker", "--parallel", "4")
	logf, err := os.CreateTemp(t.TempDir(), "worker")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	waitFor(t, "the worker to poll", func() bool {
		said, _ := os.ReadFile(logf.Name())
		return strings.Contains(string(said), "worker polling")
	})
	return cmd
}

func TestE2ETemporalTwoWorkers(t *testing.T) {
	a, b := onTemporal(t)
	startWorker(t, a)
	startWorker(t, b)

	// A namespace the server lacks is said at once.
	lost := newE2E(t)
	lost.Env = append(append([]string(nil), a.Env...), "KITARU_TEMPORAL_NAMESPACE=nope")
	if r := lost.must(ExitUsage, "worker"); !strings.Contains(r.Stderr, `has no namespace "nope"`) {
		t.Errorf("a worker for a namespace the server lacks: %s", r)
	}
	if st := a.must(0, "status"); !strings.Contains(st.Stdout, "namespace temporaltest-") || !strings.Contains(st.Stdout, "(reachable, 2 workers polling)") {
		t.Errorf("status on Temporal:\n%s", st.Stdout)
	}
	// The run waits for its answer as a local one does (exit 3)...
	r := a.must(3, "run", a.flow("across.yaml", temporalFlow))
	id := announcedID(t, r.Stdout)
	for _, line := range []string{"each", "approve"} {
		if !strings.Contains(r.Stderr, line) {
			t.Errorf("the progress lacks %s:\n%s", line, r.Stderr)
		}
	}
	if rec := b.record(id); rec.Status != engine.RunWaiting {
		t.Fatalf("B reads the run as %s, want waiting", rec.Status)
	}
	// ...answered on B through the workflow's signal; input follows it to
	// its end.
	bad := b.run("input", id, "--value", `"yes"`)
	if bad.Code != ExitUsage {
		t.Errorf("an answer its schema refuses: %s", bad)
	}
	good := b.must(0, "input", id, "--value", "true", "--quiet")
	if printedOutput(t, good.Stdout) != "shipped" {
		t.Errorf("the answered run printed %q", good.Stdout)
	}
	if logs := a.must(0, "executions", "logs", id, "--step", "ship"); !strings.Contains(logs.Stdout, "shipped") {
		t.Errorf("the ship step's log:\n%s", logs.Stdout)
	}
	for _, name := range []string{"a", "b", "x", "y", "z", "ship"} {
		if n := a.count(name + ".done"); n != 1 {
			t.Errorf("%s ran %d times, want 1", name, n)
		}
	}
	if rec := a.record(id); rec.Status != engine.RunCompleted {
		t.Errorf("A reads the run as %s, want completed", rec.Status)
	}
	// A replay from the last step runs on Temporal too: only that step
	// runs again, the others (the answer too) are reused.
	rep := b.must(0, "replay", id, "--from", "ship", "--quiet")
	if printedOutput(t, rep.Stdout) != "shipped" {
		t.Errorf("the replay printed %q", rep.Stdout)
	}
	for name, n := range map[string]int{"a": 1, "b": 1, "x": 1, "ship": 2} {
		if got := a.count(name + ".done"); got != n {
			t.Errorf("after the replay %s ran %d times, want %d", name, got, n)
		}
	}
	rec := a.record(announcedID(t, rep.Stdout))
	for _, s := range rec.Steps {
		if want := s.ID != "ship"; s.Reused != want || s.Status != engine.StepCompleted {
			t.Errorf("the replay's step %s: reused %v, %s", s.ID, s.Reused, s.Status)
		}
	}
	if ship := rec.Steps[len(rec.Steps)-1]; ship.Why == nil {
		t.Errorf("the replayed step says not why it ran again: %+v", ship)
	}
}

func TestE2ETemporalDetachAndCancel(t *testing.T) {
	a, b := onTemporal(t)
	// Nobody polls yet: the run says so instead of hanging, and waits on
	// Temporal for a worker.
	quick := a.flow("quick.yaml", "name: quick\nsteps:\n  one: {kind: checkpoint, run: echo x >> @D@/one.done}\n")
	none := a.run("run", quick)
	if none.Code != 0 || !strings.Contains(none.Stderr, "no worker polls the task queue kitaru") || !strings.Contains(none.Stderr, "kitaru worker") {
		t.Errorf("a run nobody executes: %s", none)
	}
	startWorker(t, b)
	waitFor(t, "the queued run to run once a worker polls", func() bool { return a.count("one.done") == 1 })

	r := a.must(0, "run", "--detach", a.flow("slow.yaml", slowFlow))
	id := announcedID(t, r.Stdout)
	waitFor(t, "the step to start on the worker", func() bool { return a.count("nap.started") == 1 })
	// Another machine follows its log while it runs, until it ends.
	follow := b.command("executions", "logs", id, "--follow")
	var followOut strings.Builder
	follow.Stdout = &followOut
	followed := make(chan error, 1)
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { followed <- follow.Wait() }()
	waitFor(t, "the step's second line", func() bool { return a.count("nap.second") == 1 })
	a.must(0, "executions", "cancel", id)
	waitFor(t, "the run to end cancelled", func() bool { return a.record(id).Status == engine.RunCancelled })
	select {
	case err := <-followed:
		if err != nil || !strings.Contains(followOut.String(), "second") {
			t.Errorf("logs --follow: %v, printed:\n%s", err, followOut.String())
		}
	case <-time.After(time.Minute):
		_ = follow.Process.Kill()
		t.Error("logs --follow went on after the run ended")
	}
	if a.count("nap.done") != 0 || a.count("after.done") != 0 {
		t.Errorf("the cancelled run went on: nap done %d, after %d", a.count("nap.done"), a.count("after.done"))
	}
}

func TestE2ETemporalNeedsASharedStoreAndAServer(t *testing.T) {
	e := newE2E(t)
	e.setenv("KITARU_TEMPORAL_ADDRESS", "127.0.0.1:1")
	flow := e.flow("slow.yaml", slowFlow)
	if r := e.must(2, "run", flow); !strings.Contains(r.Stderr, "KITARU_STORE") {
		t.Errorf("a run on Temporal over the file store: %s", r)
	}
	if st := e.must(0, "status"); !strings.Contains(st.Stdout, "temporal     127.0.0.1:1 namespace default, task queue kitaru (not reachable)") {
		t.Errorf("status without a Temporal server:\n%s", st.Stdout)
	}
	e.setenv("KITARU_STORE", teamStore(t))
	if r := e.run("run", flow); r.Code == 0 || !strings.Contains(r.Stderr, "Temporal") {
		t.Errorf("a run on a Temporal nobody serves: %s", r)
	}
}

// The step reports which worker runs it, and records its effect only if
// that worker still lives when it is done (what an orphan of a killed
// worker leaves does not count).
const killFlow = `name: survive
steps:
  long:
    kind: checkpoint
    run: echo $PPID >> @D@/who; echo x >> @D@/long.started; sleep 3; kill -0 $PPID && echo x >> @D@/long.done; echo ok
  after: {kind: checkpoint, needs: [long], run: echo x >> @D@/after.done; echo after}
output: ${{ steps.after.output }}
`

func TestE2ETemporalWorkerKilledMidStep(t *testing.T) {
	a, b := onTemporal(t)
	a.setenv("KITARU_TEMPORAL_HEARTBEAT", "2s")
	workers := map[string]*exec.Cmd{}
	for _, m := range []*e2e{a, b} {
		w := startWorker(t, m)
		workers[strconv.Itoa(w.Process.Pid)] = w
	}
	done := make(chan result, 1)
	go func() { done <- a.run("run", a.flow("survive.yaml", killFlow), "--quiet") }()
	waitFor(t, "the step to start", func() bool { return a.count("long.started") == 1 })
	who, err := os.ReadFile(filepath.Join(a.Dir, "who"))
	if err != nil {
		t.Fatal(err)
	}
	w := workers[strings.TrimSpace(string(who))]
	if w == nil {
		t.Fatalf("the step ran under %q, which is no worker", who)
	}
	if err := w.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w.Wait() // reaped: its orphaned step sees it gone
	r := <-done
	if r.Code != 0 || printedOutput(t, r.Stdout) != "after" {
		t.Fatalf("the run after its worker was killed: %s", r)
	}
	if a.count("long.started") != 2 || a.count("long.done") != 1 || a.count("after.done") != 1 {
		t.Errorf("long started %d times and was done %d, after %d; want 2, 1, 1", a.count("long.started"), a.count("long.done"), a.count("after.done"))
	}
}

// kitaru ui with KITARU_TEMPORAL_ADDRESS: a run started from the page runs
// on Temporal (a worker executes it), its answer goes to the workflow.
func TestE2ETemporalUI(t *testing.T) {
	a, b := onTemporal(t)
	w := startWorker(t, b)
	// The step says which process runs it: the worker, not the page's.
	a.flow("across.yaml", strings.Replace(temporalFlow, "echo x >> @D@/a.done;", "echo x >> @D@/a.done; echo $PPID >> @D@/who;", 1))
	cmd := a.command("ui", "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "/?token=") {
		t.Fatalf("kitaru ui printed %q (%v)", line, err)
	}
	base, token, _ := strings.Cut(strings.TrimSpace(line), "/?token=")
	call := uiCaller(t, base, token)
	var started struct{ ID string }
	if code := call("POST", "/api/runs", `{"flow": "across.yaml"}`, &started); code >= 300 || started.ID == "" {
		t.Fatalf("start: %d %+v", code, started)
	}
	status := func() string {
		var run struct{ Status string }
		call("GET", "/api/runs/"+started.ID, "", &run)
		return run.Status
	}
	waitFor(t, "the run to wait", func() bool { return status() == "waiting" })
	if who, _ := os.ReadFile(filepath.Join(a.Dir, "who")); strings.TrimSpace(string(who)) != strconv.Itoa(w.Process.Pid) {
		t.Fatalf("step a ran under process %q, not the worker %d", who, w.Process.Pid)
	}
	if code := call("POST", "/api/runs/"+started.ID+"/input", `{"value": true}`, nil); code >= 300 {
		t.Fatalf("input: %d", code)
	}
	waitFor(t, "the run to complete", func() bool { return status() == "completed" })
	if a.count("ship.done") != 1 {
		t.Errorf("ship ran %d times", a.count("ship.done"))
	}
	if rec := b.record(started.ID); rec.Status != engine.RunCompleted {
		t.Errorf("B reads the run as %s", rec.Status)
	}
}

// A run that failed on Temporal is retried there: the failed step runs
// again, the one before it does not.
func TestE2ETemporalRetry(t *testing.T) {
	a, b := onTemporal(t)
	startWorker(t, b)
	flow := a.flow("flaky.yaml", `name: flaky
steps:
  first: {kind: checkpoint, run: echo x >> @D@/first.done; echo one}
  flaky: {kind: checkpoint, needs: [first], run: echo x >> @D@/flaky.tried; test -f @D@/fixed && echo fixed}
output: ${{ steps.flaky.output }}
`)
	r := a.must(1, "run", flow)
	id := announcedID(t, r.Stdout)
	a.write("fixed", "")
	again := b.must(0, "retry", id, "--quiet")
	if printedOutput(t, again.Stdout) != "fixed" {
		t.Errorf("the retried run printed %q", again.Stdout)
	}
	for name, n := range map[string]int{"first.done": 1, "flaky.tried": 2} {
		if got := a.count(name); got != n {
			t.Errorf("%s: %d, want %d", name, got, n)
		}
	}
	if rec := a.record(id); rec.Status != engine.RunCompleted {
		t.Errorf("the retried run is %s", rec.Status)
	}
}

// A run whose workflow is terminated by hand reads as interrupted, saying
// so, and kitaru resume continues it under a new workflow: it waits
// again, is answered, and completes with each step run once.
func TestE2ETemporalTerminatedThenResumed(t *testing.T) {
	a, b, srv := onTemporalServer(t)
	startWorker(t, b)
	r := a.must(3, "run", a.flow("across.yaml", temporalFlow))
	id := announcedID(t, r.Stdout)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.TerminateWorkflow(t.Context(), id, "", "by hand"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to read as interrupted", func() bool { return a.record(id).Status == engine.RunInterrupted })
	if get := a.run("executions", "get", id); !strings.Contains(get.Stdout+get.Stderr, "its workflow was terminated; `kitaru resume "+id+"` continues it") {
		t.Errorf("executions get of the terminated run: %s", get)
	}
	b.must(3, "resume", id)
	good := b.must(0, "input", id, "--value", "true", "--quiet")
	if printedOutput(t, good.Stdout) != "shipped" {
		t.Errorf("the resumed run printed %q", good.Stdout)
	}
	for _, name := range []string{"a", "b", "x", "y", "z", "ship"} {
		if n := a.count(name + ".done"); n != 1 {
			t.Errorf("%s ran %d times, want 1", name, n)
		}
	}
}
