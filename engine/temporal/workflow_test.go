package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// fixture is an engine over an in-memory store, with a directory for the
// counter files steps append to, and the SDK's test environment (its
// clock skips ahead whenever the workflow only waits for a timer).
type fixture struct {
	t       *testing.T
	counter string
	eng     *engine.Engine
	env     *testsuite.TestWorkflowEnvironment
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, func(r Registry) Registry { return r })
}

// newFixtureWith registers the workflow and activities through wrap(env).
func newFixtureWith(t *testing.T, wrap func(Registry) Registry) *fixture {
	t.Helper()
	fx := &fixture{t: t, counter: t.TempDir()}
	wd, _ := os.Getwd()
	fx.eng = engine.New(engine.Config{Store: memstore.New(), WorkDir: wd})
	fx.env = newEnv(fx.eng, wrap)
	return fx
}

// newEnv is a test environment for one workflow, its activities over eng.
func newEnv(eng *engine.Engine, wrap func(Registry) Registry) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	// Its activities run on the real clock, on a machine that may be busy.
	env.SetTestTimeout(2 * time.Minute)
	Register(wrap(env), &Activities{Engine: eng})
	return env
}

// next makes the fixture's environment a fresh one, for another workflow
// over the same store.
func (fx *fixture) next() {
	fx.env = newEnv(fx.eng, func(r Registry) Registry { return r })
}

// create records a run of src (COUNTER replaced by the counter
// directory) as a Temporal one and returns the workflow's input.
func (fx *fixture) create(src string) Input {
	fx.t.Helper()
	f, err := flowspec.Parse("test.yaml", []byte(strings.ReplaceAll(src, "COUNTER", fx.counter)), flowspec.Options{})
	if err != nil {
		fx.t.Fatalf("flow does not load: %v", err)
	}
	in, err := f.BindInputs(nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	sp, err := fx.eng.CreateDriven(context.Background(), engine.StartOptions{Flow: f, Inputs: in, Parallel: 4},
		runstore.TemporalRef{Namespace: "default", TaskQueue: "kitaru"})
	if err != nil {
		fx.t.Fatalf("create: %v", err)
	}
	return Input{Spec: *sp, Heartbeat: time.Minute}
}

func (fx *fixture) execute(in Input) *Result {
	fx.t.Helper()
	fx.env.ExecuteWorkflow(WorkflowName, in)
	if !fx.env.IsWorkflowCompleted() {
		fx.t.Fatal("the workflow did not complete")
	}
	var res *Result
	if err := fx.env.GetWorkflowResult(&res); err != nil {
		fx.t.Fatalf("workflow: %v", err)
	}
	return res
}

func (fx *fixture) get(id string) *runstore.Run {
	fx.t.Helper()
	run, err := fx.eng.Get(context.Background(), id)
	if err != nil {
		fx.t.Fatal(err)
	}
	return run
}

func (fx *fixture) count(name string) int {
	data, _ := os.ReadFile(filepath.Join(fx.counter, name))
	return strings.Count(string(data), "\n")
}

// wantCounts checks how often steps appended to each counter file.
func (fx *fixture) wantCounts(want map[string]int) {
	fx.t.Helper()
	for name, n := range want {
		if got := fx.count(name); got != n {
			fx.t.Errorf("%s ran %d times, want %d", name, got, n)
		}
	}
}

func stepOf(t *testing.T, run *runstore.Run, id string) runstore.StepResult {
	t.Helper()
	for _, s := range run.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run has no step %s", id)
	return runstore.StepResult{}
}

func wantRun(t *testing.T, run *runstore.Run, status runstore.RunStatus) {
	t.Helper()
	if run.Status != status {
		msg := ""
		if run.Error != nil {
			msg = *run.Error
		}
		t.Fatalf("run %s is %s (%s), want %s; steps %+v", run.ID, run.Status, msg, status, run.Steps)
	}
}

func TestParallelStepsAndForeach(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(`
name: fan
steps:
  # a and b each wait for the other to start: they pass only together.
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; for i in $(seq 200); do test -s COUNTER/b && break; sleep 0.05; done; test -s COUNTER/b
  b:
    kind: checkpoint
    run: echo x >> COUNTER/b; for i in $(seq 200); do test -s COUNTER/a && break; sleep 0.05; done; test -s COUNTER/a
  list: {kind: checkpoint, needs: [a], value: '${{ ["x", "y", "z"] }}'}
  each:
    kind: checkpoint
    foreach: steps.list.output
    run: echo x >> COUNTER/${{ item }}; echo ${{ item }}-${{ index }}
  join:
    kind: checkpoint
    needs: [each, b]
    value: '${{ steps.each.output }}'
output: ${{ steps.join.output }}
`)
	res := fx.execute(in)
	if res.Status != runstore.RunCompleted {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	wantRun(t, run, runstore.RunCompleted)
	out, _ := json.Marshal(run.Output)
	if string(out) != `["x-0","y-1","z-2"]` {
		t.Fatalf("output %s", out)
	}
	fx.wantCounts(map[string]int{"a": 1, "b": 1, "x": 1, "y": 1, "z": 1})
	if each := stepOf(t, run, "each"); len(each.Items) != 3 || each.Status != runstore.StepCompleted {
		t.Fatalf("each %+v", each)
	}
	if fx.metaOf(run.ID).Temporal == nil {
		t.Fatal("the run does not name its workflow")
	}
}

func (fx *fixture) metaOf(id string) *runstore.RunMeta {
	fx.t.Helper()
	meta, err := fx.eng.Store().LoadMeta(context.Background(), id)
	if err != nil {
		fx.t.Fatal(err)
	}
	return meta
}

const waitFlow = `
name: ask
steps:
  draft: {kind: checkpoint, run: echo x >> COUNTER/draft; echo the draft}
  approval:
    kind: wait
    question: Publish ${{ steps.draft.output }}?
    schema: {type: boolean}
    timeout: 24h
  publish:
    kind: checkpoint
    needs: [approval]
    if: steps.approval.output == true
    run: echo x >> COUNTER/publish; echo published
`

func TestWaitAnsweredBySignal(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(waitFlow)
	// A refused answer first (not the schema's boolean): the step waits on.
	fx.env.RegisterDelayedCallback(func() {
		fx.env.SignalWorkflow(SignalAnswer, Answer{Step: "approval", Value: json.RawMessage(`"yes"`)})
	}, time.Hour)
	fx.env.RegisterDelayedCallback(func() {
		if st := fx.metaOf(in.Spec.Run).Status; st != runstore.RunWaiting {
			t.Errorf("while it waits the run is %s", st)
		}
		fx.env.SignalWorkflow(SignalAnswer, Answer{Value: json.RawMessage(`true`)})
	}, 2*time.Hour)
	res := fx.execute(in)
	if res.Status != runstore.RunCompleted {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	wantRun(t, run, runstore.RunCompleted)
	if a := stepOf(t, run, "approval"); a.Output != true || a.Wait == nil || !a.Wait.Answered {
		t.Fatalf("approval %+v", a)
	}
	fx.wantCounts(map[string]int{"publish": 1, "draft": 1})
}

func TestWaitTimesOutAfter24Hours(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(waitFlow)
	start := fx.env.Now()
	res := fx.execute(in)
	if elapsed := fx.env.Now().Sub(start); elapsed < 24*time.Hour {
		t.Fatalf("the wait ended after %s of workflow time", elapsed)
	}
	if res.Status != runstore.RunFailed || res.Ending.Step != "approval" {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	wantRun(t, run, runstore.RunFailed)
	a := stepOf(t, run, "approval")
	if a.Status != runstore.StepFailed || a.Error == nil || !strings.Contains(*a.Error, "timeout ran out") {
		t.Fatalf("approval %+v", a)
	}
	if p := stepOf(t, run, "publish"); p.Status != runstore.StepSkipped || fx.count("publish") != 0 {
		t.Fatalf("publish %+v", p)
	}
}

func TestFailingStepRetries(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(`
name: retries
steps:
  lucky:
    kind: checkpoint
    retry: {attempts: 3, backoff: 10ms}
    run: echo x >> COUNTER/lucky; test $(wc -l < COUNTER/lucky) -ge 3 && echo lucky
  never:
    kind: checkpoint
    retry: {attempts: 2, backoff: 1ms}
    run: echo x >> COUNTER/never; exit 1
`)
	res := fx.execute(in)
	if res.Status != runstore.RunFailed || res.Ending.Step != "never" {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	lucky := stepOf(t, run, "lucky")
	if lucky.Status != runstore.StepCompleted || lucky.Attempts != 3 || len(lucky.AttemptsDetail) != 3 || lucky.Output != "lucky" {
		t.Fatalf("lucky %+v", lucky)
	}
	never := stepOf(t, run, "never")
	if never.Status != runstore.StepFailed || never.Attempts != 2 || len(never.AttemptsDetail) != 2 {
		t.Fatalf("never %+v", never)
	}
	fx.wantCounts(map[string]int{"lucky": 3, "never": 2})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(waitFlow)
	fx.env.RegisterDelayedCallback(fx.env.CancelWorkflow, time.Hour)
	fx.env.ExecuteWorkflow(WorkflowName, in)
	if err := fx.env.GetWorkflowError(); !errors.Is(err, workflow.ErrCanceled) && !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("workflow error %v", err)
	}
	run := fx.get(in.Spec.Run)
	wantRun(t, run, runstore.RunCancelled)
	if p := stepOf(t, run, "publish"); p.Status != runstore.StepSkipped || fx.count("publish") != 0 {
		t.Fatalf("publish %+v", p)
	}
}

// lossy registers the activities with the step activity of step "lost"
// failing every attempt, as a worker lost each time would.
type lossy struct{ Registry }

func (l lossy) RegisterActivityWithOptions(a any, o activity.RegisterOptions) {
	if real, ok := a.(func(context.Context, StepRequest) (*engine.StepOutcome, error)); ok && o.Name == activityStep {
		a = func(ctx context.Context, req StepRequest) (*engine.StepOutcome, error) {
			if req.Step == "lost" {
				return nil, errors.New("the worker was lost")
			}
			return real(ctx, req)
		}
	}
	l.Registry.RegisterActivityWithOptions(a, o)
}

func TestStepWhoseActivityGivesUpFails(t *testing.T) {
	t.Parallel()
	fx := newFixtureWith(t, func(r Registry) Registry { return lossy{r} })
	in := fx.create(`
name: lossy
steps:
  lost: {kind: checkpoint, run: echo x >> COUNTER/lost}
  after: {kind: checkpoint, needs: [lost], run: echo x >> COUNTER/after}
  other: {kind: checkpoint, run: echo x >> COUNTER/other}
`)
	res := fx.execute(in)
	if res.Status != runstore.RunFailed || res.Ending.Step != "lost" {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	lost := stepOf(t, run, "lost")
	if lost.Status != runstore.StepFailed || lost.Error == nil || !strings.Contains(*lost.Error, "the worker was lost") {
		t.Fatalf("lost %+v", lost)
	}
	if after := stepOf(t, run, "after"); after.Status != runstore.StepSkipped {
		t.Fatalf("after %+v", after)
	}
	fx.wantCounts(map[string]int{"lost": 0, "after": 0, "other": 1})
}

func TestAnswerBeforeTheQuestion(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(waitFlow)
	// Sent as the run starts, before the wait step has asked: kept until
	// it does.
	fx.env.RegisterDelayedCallback(func() {
		fx.env.SignalWorkflow(SignalAnswer, Answer{Step: "approval", Value: json.RawMessage(`false`)})
	}, 0)
	res := fx.execute(in)
	if res.Status != runstore.RunCompleted {
		t.Fatalf("result %+v", res)
	}
	run := fx.get(in.Spec.Run)
	if a := stepOf(t, run, "approval"); a.Output != false {
		t.Fatalf("approval %+v", a)
	}
	if p := stepOf(t, run, "publish"); p.Status != runstore.StepSkipped {
		t.Fatalf("publish %+v", p)
	}
}

// A replay on Temporal reuses the finished items of a foreach step that
// runs again, as a local replay does: --from the list before it (the same
// list) runs none of them, --from one item runs only that one.
func TestReplayReusesForeachItems(t *testing.T) {
	t.Parallel()
	const flow = `
name: items
steps:
  list:
    kind: checkpoint
    run: echo x >> COUNTER/list; echo '["x", "y", "z"]'
    output: json
  each:
    kind: checkpoint
    foreach: steps.list.output
    run: echo x >> COUNTER/${{ item }}; echo ${{ item }}
  join: {kind: checkpoint, value: '${{ steps.each.output }}'}
output: ${{ steps.join.output }}
`
	for _, tc := range []struct {
		from string
		want map[string]int
	}{
		{"list", map[string]int{"list": 2, "x": 1, "y": 1, "z": 1}},
		{"each[1]", map[string]int{"list": 1, "x": 1, "y": 2, "z": 1}},
	} {
		t.Run(tc.from, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			in := fx.create(flow)
			if res := fx.execute(in); res.Status != runstore.RunCompleted {
				t.Fatalf("the source: %+v", res)
			}
			sp, err := fx.eng.ReplayDriven(context.Background(), engine.ReplayOptions{Source: in.Spec.Run, From: tc.from},
				runstore.TemporalRef{Namespace: "default", TaskQueue: "kitaru"})
			if err != nil {
				t.Fatal(err)
			}
			fx.next()
			if res := fx.execute(Input{Spec: *sp, Heartbeat: time.Minute}); res.Status != runstore.RunCompleted {
				t.Fatalf("the replay: %+v", res)
			}
			run := fx.get(sp.Run)
			wantRun(t, run, runstore.RunCompleted)
			fx.wantCounts(tc.want)
			out, _ := json.Marshal(run.Output)
			if string(out) != `["x","y","z"]` {
				t.Errorf("output %s", out)
			}
			each := stepOf(t, run, "each")
			for i, it := range each.Items {
				if reused := tc.want[[]string{"x", "y", "z"}[i]] == 1; it.Reused != reused {
					t.Errorf("item %d reused %v", i, it.Reused)
				}
			}
		})
	}
}

// A wait that began before its workflow (a run continued by a new one)
// times out when its recorded deadline comes, not a whole timeout later:
// an hour on when the workflow starts 23 hours into its 24, at once when
// the deadline has passed.
func TestWaitTimeoutCountsFromItsStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		early       time.Duration // how long before the deadline the workflow starts
		least, most time.Duration
	}{
		{"an hour left", time.Hour, 59 * time.Minute, 2 * time.Hour},
		{"past its deadline", -time.Hour, 0, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			in := fx.create(waitFlow)
			ctx := context.Background()
			for _, step := range []string{"draft", "approval"} {
				if _, err := fx.eng.DriveStep(ctx, in.Spec.Run, step, nil); err != nil {
					t.Fatal(err)
				}
			}
			sp, err := fx.eng.DriveSpecOf(ctx, in.Spec.Run)
			if err != nil {
				t.Fatal(err)
			}
			dl := sp.Steps["approval"].Deadline
			if dl == nil || sp.Steps["approval"].Status != runstore.StepWaiting {
				t.Fatalf("the waiting step's spec %+v", sp.Steps["approval"])
			}
			start := dl.Add(-tc.early)
			fx.env.SetStartTime(start)
			res := fx.execute(Input{Spec: *sp, Heartbeat: time.Minute})
			if elapsed := fx.env.Now().Sub(start); elapsed < tc.least || elapsed > tc.most {
				t.Errorf("the wait ended %s after the workflow started, want %s to %s", elapsed, tc.least, tc.most)
			}
			if res.Status != runstore.RunFailed || res.Ending.Step != "approval" {
				t.Fatalf("result %+v", res)
			}
			if a := stepOf(t, fx.get(in.Spec.Run), "approval"); a.Status != runstore.StepFailed || a.Error == nil || !strings.Contains(*a.Error, "timeout ran out") {
				t.Fatalf("approval %+v", a)
			}
		})
	}
}

// unfinished registers the activities with the one that records the run's
// end always failing, as a store that refuses it would.
type unfinished struct{ Registry }

func (u unfinished) RegisterActivityWithOptions(a any, o activity.RegisterOptions) {
	if o.Name == activityFinish {
		a = func(context.Context, FinishRequest) error {
			return temporal.NewNonRetryableApplicationError("the store refused the run's end", "test", nil)
		}
	}
	u.Registry.RegisterActivityWithOptions(a, o)
}

// A workflow that fails outright (its code panics, its end cannot be
// recorded) records the run failed with the cause, instead of leaving it
// running for ever.
func TestFailedWorkflowRecordsTheRunFailed(t *testing.T) {
	t.Parallel()
	const flow = "name: one\nsteps:\n  a: {kind: checkpoint, run: echo x >> COUNTER/a}\n"
	for _, tc := range []struct {
		name string
		wrap func(Registry) Registry
		wf   any
		want string
	}{
		{"panics", func(r Registry) Registry {
			r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (*Result, error) {
				return guard(ctx, in, func(workflow.Context, Input) (*Result, error) { panic("boom") })
			}, workflow.RegisterOptions{Name: "test.panics"})
			return r
		}, "test.panics", "the workflow's code panicked: boom"},
		{"its end is refused", func(r Registry) Registry { return unfinished{r} }, WorkflowName, "the store refused the run's end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixtureWith(t, tc.wrap)
			in := fx.create(flow)
			fx.env.ExecuteWorkflow(tc.wf, in)
			if err := fx.env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("workflow error %v", err)
			}
			run := fx.get(in.Spec.Run)
			wantRun(t, run, runstore.RunFailed)
			if run.Ending == nil || run.Ending.Code != runstore.EndWorkflowFailed || run.Error == nil || !strings.Contains(*run.Error, tc.want) {
				t.Fatalf("the run's ending %+v, error %v", run.Ending, run.Error)
			}
		})
	}
}

// An answer sent as an update learns its fate: one its schema refuses
// fails the update (the step waits on), one for a step the run has not is
// rejected before it enters the history, one taken completes it once it
// is recorded.
func TestWaitAnsweredByUpdate(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(waitFlow)
	type fate struct {
		rejected, failed error
		completed        bool
	}
	fates := map[string]*fate{}
	send := func(name string, a Answer) {
		f := &fate{}
		fates[name] = f
		fx.env.UpdateWorkflow(UpdateAnswer, name, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { f.rejected = err },
			OnComplete: func(_ any, err error) {
				f.failed, f.completed = err, err == nil
			},
		}, a)
	}
	fx.env.RegisterDelayedCallback(func() {
		send("not its schema", Answer{Step: "approval", Value: json.RawMessage(`"yes"`)})
		send("no such step", Answer{Step: "nope", Value: json.RawMessage(`true`)})
	}, time.Hour)
	fx.env.RegisterDelayedCallback(func() {
		if a := stepOf(t, fx.get(in.Spec.Run), "approval"); a.Status != runstore.StepWaiting {
			t.Errorf("after a refused answer approval is %s", a.Status)
		}
		send("taken", Answer{Step: "approval", Value: json.RawMessage(`true`)})
	}, 2*time.Hour)
	res := fx.execute(in)
	if res.Status != runstore.RunCompleted {
		t.Fatalf("result %+v", res)
	}
	if f := fates["not its schema"]; f.failed == nil || !strings.Contains(f.failed.Error(), "boolean") {
		t.Errorf("an answer its schema refuses: %+v", f)
	}
	if f := fates["no such step"]; f.rejected == nil || !strings.Contains(f.rejected.Error(), `no wait step "nope"`) {
		t.Errorf("an answer for no step: %+v", f)
	}
	if f := fates["taken"]; !f.completed {
		t.Errorf("the answer taken: %+v", f)
	}
	if a := stepOf(t, fx.get(in.Spec.Run), "approval"); a.Output != true {
		t.Errorf("approval %+v", a)
	}
	fx.wantCounts(map[string]int{"publish": 1})
}

func TestAddSpan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		add  []int
		want []Span
	}{
		{[]int{0, 1, 2}, []Span{{0, 3}}},
		{[]int{2, 0, 1}, []Span{{0, 3}}},
		{[]int{5, 1, 3, 3}, []Span{{1, 2}, {3, 4}, {5, 6}}},
		{[]int{5, 1, 3, 2, 4}, []Span{{1, 6}}},
		{[]int{4, 3, 7}, []Span{{3, 5}, {7, 8}}},
	} {
		var got []Span
		for _, i := range tc.add {
			got = addSpan(got, i)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("adding %v: %v, want %v", tc.add, got, tc.want)
		}
		for _, i := range tc.add {
			if !inSpans(got, i) {
				t.Errorf("%v lacks %d", got, i)
			}
		}
	}
}

// A workflow past its history limit continues as new once its units in
// flight have ended, carrying the steps' states and the foreach step in
// progress (its ended items, a failed one too, do not run again). Here
// every workflow is past the limit, so each makes a little progress and
// continues as the next until the run ends.
func TestContinueAsNew(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	in := fx.create(`
name: long
steps:
  a: {kind: checkpoint, run: echo x >> COUNTER/a; echo A}
  each:
    kind: checkpoint
    needs: [a]
    foreach: '${{ ["x", "y", "z"] }}'
    run: echo x >> COUNTER/${{ item }}; test ${{ item }} != y && echo ${{ item }}
  join: {kind: checkpoint, needs: [each], value: '${{ steps.each.output }}'}
`)
	// One unit at once: the items still to start when a workflow drains
	// are the next one's.
	in.Spec.Parallel = 1
	carried := false
	var res *Result
	for gen := 1; ; gen++ {
		if gen > 10 {
			t.Fatal("the run did not end in 10 workflows")
		}
		fx.env.SetCurrentHistoryLength(DefaultHistoryLimit)
		fx.env.ExecuteWorkflow(WorkflowName, in)
		err := fx.env.GetWorkflowError()
		var next *workflow.ContinueAsNewError
		if !errors.As(err, &next) {
			if err != nil {
				t.Fatalf("workflow %d: %v", gen, err)
			}
			if err := fx.env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if gen < 3 {
				t.Errorf("the run ended in workflow %d, without continuing as new", gen)
			}
			break
		}
		in = Input{}
		if err := converter.GetDefaultDataConverter().FromPayloads(next.Input, &in); err != nil {
			t.Fatal(err)
		}
		if c, ok := in.Carry["each"]; ok && len(c.Ended) > 0 {
			carried = true
		}
		fx.next()
	}
	if !carried {
		t.Error("no workflow carried ended items of the foreach step")
	}
	if res.Status != runstore.RunFailed || res.Ending.Step != "each" {
		t.Fatalf("result %+v", res)
	}
	fx.wantCounts(map[string]int{"a": 1, "x": 1, "y": 1, "z": 1})
	if each := stepOf(t, fx.get(in.Spec.Run), "each"); len(each.Items) != 3 || each.Status != runstore.StepFailed {
		t.Fatalf("each %+v", each)
	}
}
