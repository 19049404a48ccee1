package temporal

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/pgtest"
	"github.com/kitaruhq/kitaru/internal/temporaltest"
)

// serverFlow has parallel steps, a foreach and a wait.
const serverFlow = `
name: across
steps:
  a: {kind: checkpoint, run: echo x >> COUNTER/a; echo A}
  b: {kind: checkpoint, run: echo x >> COUNTER/b; echo B}
  each:
    kind: checkpoint
    needs: [a]
    foreach: '${{ ["x", "y", "z", "w"] }}'
    run: echo x >> COUNTER/${{ item }}; echo ${{ item }}
  approval:
    kind: wait
    needs: [each, b]
    question: Ship ${{ steps.each.output }}?
    schema: {type: boolean}
  ship:
    kind: checkpoint
    needs: [approval]
    if: steps.approval.output == true
    run: echo x >> COUNTER/ship; echo shipped
output: ${{ steps.ship.output }}
`

// TestOnATemporalServer runs a flow on a real Temporal server (in a
// process of its own) with two workers, each with its engine over its own
// connection to one PostgreSQL store, answers its wait by signal, then
// replays the workflow's history against the workflow code: what a kitaru
// upgrade must not break. With KITARU_UPDATE_HISTORY=1 it keeps the
// history in testdata for TestRecordedHistoriesReplay.
func TestOnATemporalServer(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	pg := pgtest.Start(t)
	url := pg.DatabaseURL(t, "kitaru_temporal")
	ctx := t.Context()
	counter := t.TempDir()
	wd, _ := os.Getwd()
	newEngine := func() *engine.Engine {
		st, err := pgstore.Open(ctx, url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return engine.New(engine.Config{Store: st, WorkDir: wd})
	}
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "kitaru-test"
	for range 2 {
		w := worker.New(c, queue, worker.Options{})
		Register(w, &Activities{Engine: newEngine()})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
	}

	eng := newEngine()
	f, err := flowspec.Parse("across.yaml", []byte(strings.ReplaceAll(serverFlow, "COUNTER", counter)), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := eng.CreateDriven(ctx, engine.StartOptions{Flow: f, Inputs: map[string]any{}, Parallel: 4},
		runstore.TemporalRef{Namespace: srv.Namespace, TaskQueue: queue})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: sp.Run, TaskQueue: queue}, WorkflowName, Input{Spec: *sp, Heartbeat: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The answer is sent once the question is recorded, as `kitaru input`
	// would be.
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := eng.Store().LoadStep(ctx, sp.Run, "approval")
		if err != nil {
			t.Fatal(err)
		}
		if r != nil && r.Status == runstore.StepWaiting {
			if r.Wait == nil || r.Wait.Question != `Ship ["x","y","z","w"]?` {
				t.Fatalf("approval %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wait step never asked")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// As an update, as kitaru input sends it.
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: sp.Run, UpdateName: UpdateAnswer,
		Args: []any{Answer{Step: "approval", Value: json.RawMessage(`true`)}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := wf.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != runstore.RunCompleted {
		t.Fatalf("result %+v", res)
	}
	run, err := eng.Get(ctx, sp.Run)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runstore.RunCompleted || run.Output != "shipped" {
		t.Fatalf("run %+v", run)
	}
	for _, name := range []string{"a", "b", "x", "y", "z", "w", "ship"} {
		data, _ := os.ReadFile(filepath.Join(counter, name))
		if n := strings.Count(string(data), "\n"); n != 1 {
			t.Errorf("%s ran %d times", name, n)
		}
	}

	keepHistory(t, c, sp.Run, "", "history-update.json")
}

// keepHistory replays the history of workflow id's run (runID "": its
// last) against the workflow code and, with KITARU_UPDATE_HISTORY=1,
// keeps it in testdata as name for TestRecordedHistoriesReplay.
func keepHistory(t *testing.T, c client.Client, id, runID, name string) {
	t.Helper()
	ctx := t.Context()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	if err := replayer(t).ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("the workflow does not replay its own history: %v", err)
	}
	if os.Getenv("KITARU_UPDATE_HISTORY") != "" {
		data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func replayer(t *testing.T) worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Flow, workflow.RegisterOptions{Name: WorkflowName})
	return r
}

// TestRecordedHistoriesReplay replays histories a real server recorded
// (TestOnATemporalServer keeps them) against today's workflow code: a
// change that makes the workflow decide differently would break the
// workflows running when kitaru is upgraded, and fails here.
func TestRecordedHistoriesReplay(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata")
	}
	for _, file := range files {
		if err := replayer(t).ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// TestWorkflowsThatStopWithoutTheRun: on a real server, a run whose
// workflow is terminated reads as interrupted, with the cause, and a
// resume continues it under a new workflow (the wait it was at waits on,
// its finished step does not run again); a run whose workflow fails
// without recording it (no guard: as when the SDK itself fails it) reads
// as failed with the failure.
func TestWorkflowsThatStopWithoutTheRun(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	ctx := t.Context()
	counter := t.TempDir()
	wd, _ := os.Getwd()
	eng := engine.New(engine.Config{Store: memstore.New(), WorkDir: wd})
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, "kitaru", worker.Options{})
	Register(w, &Activities{Engine: eng})
	broken := worker.New(c, "broken", worker.Options{})
	broken.RegisterWorkflowWithOptions(func(workflow.Context, Input) (*Result, error) {
		return nil, errors.New("boom")
	}, workflow.RegisterOptions{Name: WorkflowName})
	for _, w := range []worker.Worker{w, broken} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
	}
	f, err := flowspec.Parse("ask.yaml", []byte(strings.ReplaceAll(waitFlow, "COUNTER", counter)), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runner := func(queue string) *Runner {
		return &Runner{Engine: eng, Client: c, Namespace: srv.Namespace, TaskQueue: queue, Heartbeat: 5 * time.Second, Poll: 50 * time.Millisecond}
	}
	start := func(t *testing.T, r *Runner) string {
		run, err := r.Start(ctx, engine.StartOptions{Flow: f, Inputs: map[string]any{}, Detach: true})
		if err != nil {
			t.Fatal(err)
		}
		return run.ID
	}
	awaitStatus := func(t *testing.T, r *Runner, id string, want runstore.RunStatus) *runstore.Run {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			run, err := r.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status == want {
				return run
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is %s, want %s", id, run.Status, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("terminated, then resumed", func(t *testing.T) {
		r := runner("kitaru")
		id := start(t, r)
		awaitStatus(t, r, id, runstore.RunWaiting)
		if err := c.TerminateWorkflow(ctx, id, "", "by hand"); err != nil {
			t.Fatal(err)
		}
		run := awaitStatus(t, r, id, runstore.RunInterrupted)
		if run.Ending == nil || run.Ending.Code != runstore.EndWorkflowLost || run.Error == nil || !strings.Contains(*run.Error, "terminated") {
			t.Fatalf("the terminated run's ending %+v, error %v", run.Ending, run.Error)
		}
		resumed, err := r.Resume(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if resumed.Status != runstore.RunWaiting {
			t.Fatalf("the resumed run is %s", resumed.Status)
		}
		meta, err := eng.Meta(ctx, id)
		if err != nil || meta.Temporal.WorkflowID != id+".2" {
			t.Fatalf("the resumed run's workflow %+v (%v)", meta.Temporal, err)
		}
		if _, err := r.Answer(ctx, id, "", json.RawMessage(`true`)); err != nil {
			t.Fatal(err)
		}
		awaitStatus(t, r, id, runstore.RunCompleted)
		for name, n := range map[string]int{"draft": 1, "publish": 1} {
			data, _ := os.ReadFile(filepath.Join(counter, name))
			if got := strings.Count(string(data), "\n"); got != n {
				t.Errorf("%s ran %d times, want %d", name, got, n)
			}
		}
	})
	t.Run("continues as new", func(t *testing.T) {
		const long = `
name: long
steps:
  each:
    kind: checkpoint
    foreach: '${{ [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20] }}'
    run: echo x >> COUNTER/item${{ item }}; echo ${{ item }}
output: ${{ steps.each.output }}
`
		lf, err := flowspec.Parse("long.yaml", []byte(strings.ReplaceAll(long, "COUNTER", counter)), flowspec.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sp, err := eng.CreateDriven(ctx, engine.StartOptions{Flow: lf, Inputs: map[string]any{}, Parallel: 2},
			runstore.TemporalRef{Namespace: srv.Namespace, TaskQueue: "kitaru"})
		if err != nil {
			t.Fatal(err)
		}
		// A limit of 40 events: a few items per workflow (an item takes three
		// or more), so it continues as new with items still to run.
		wf, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: sp.Run, TaskQueue: "kitaru"}, WorkflowName,
			Input{Spec: *sp, Heartbeat: 5 * time.Second, HistoryLimit: 40})
		if err != nil {
			t.Fatal(err)
		}
		firstRun := wf.GetRunID() // Get follows the chain to its last
		var res Result
		if err := wf.Get(ctx, &res); err != nil || res.Status != runstore.RunCompleted {
			t.Fatalf("result %+v (%v)", res, err)
		}
		first, err := c.DescribeWorkflowExecution(ctx, sp.Run, firstRun)
		if err != nil {
			t.Fatal(err)
		}
		if st := first.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			t.Fatalf("the first workflow ended %s, not continued as new", st)
		}
		run, err := runner("kitaru").Get(ctx, sp.Run)
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := json.Marshal(run.Output); string(out) != `["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20"]` {
			t.Errorf("output %s", out)
		}
		for i := 1; i <= 20; i++ {
			data, _ := os.ReadFile(filepath.Join(counter, fmt.Sprintf("item%d", i)))
			if n := strings.Count(string(data), "\n"); n != 1 {
				t.Errorf("item %d ran %d times", i, n)
			}
		}
		keepHistory(t, c, sp.Run, firstRun, "history-continued.json")
	})
	t.Run("failed", func(t *testing.T) {
		r := runner("broken")
		id := start(t, r)
		run := awaitStatus(t, r, id, runstore.RunFailed)
		if run.Ending == nil || run.Ending.Code != runstore.EndWorkflowFailed || run.Error == nil || !strings.Contains(*run.Error, "boom") {
			t.Fatalf("the failed run's ending %+v, error %v", run.Ending, run.Error)
		}
	})
}
