package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Runner is the engine.Runner of a machine whose runs execute on
// Temporal: new runs start as Flow workflows, answers and cancels go to
// the workflow, and what runs elsewhere is followed in the store's
// journal, which the workers' activities write. Reading runs (Get, List,
// Logs) is the engine's, as for a local run.
type Runner struct {
	*engine.Engine
	Client    client.Client
	Namespace string
	TaskQueue string
	// Observer hears the events of the runs Runner follows, as an
	// engine's Observer does; nil: none.
	Observer engine.Observer
	// Heartbeat is the heartbeat timeout of step activities (see Input).
	Heartbeat time.Duration
	// NoWorker is how long a run may wait for its first step before the
	// runner checks that a worker polls the task queue (<= 0: 5 s).
	NoWorker time.Duration
	// Poll is how often the journal is read while following (<= 0: 200 ms).
	Poll time.Duration

	mu sync.Mutex
	// answered is, for the runs this runner answered, the journal's last
	// event before the answer: a Resume that follows shows what came after.
	answered map[string]int64
	// asked is when Temporal was last asked about each run read (see
	// settleRead).
	asked map[string]time.Time
}

var _ engine.Runner = (*Runner)(nil)

// settleEvery is how often a run followed is checked for a workflow that
// stopped without ending it.
const settleEvery = 3 * time.Second

// ErrNoWorker is wrapped by the error of a run nobody executes: no worker
// polls its task queue.
var ErrNoWorker = errors.New("no worker polls the task queue")

// Start records a new run, starts its workflow and follows it until it
// ends or waits (at once with opts.Detach).
func (r *Runner) Start(ctx context.Context, opts engine.StartOptions) (*engine.Run, error) {
	detach := opts.Detach
	opts.Detach = false
	sp, err := r.CreateDriven(ctx, opts, runstore.TemporalRef{Namespace: r.Namespace, TaskQueue: r.TaskQueue})
	if err != nil {
		return nil, err
	}
	return r.launch(ctx, sp, sp.Run, detach)
}

// launch starts the workflow of the run sp describes, recorded already,
// as workflow wf, and follows it (not with detach).
func (r *Runner) launch(ctx context.Context, sp *engine.DriveSpec, wf string, detach bool) (*engine.Run, error) {
	_, err := r.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wf, TaskQueue: r.TaskQueue}, WorkflowName, Input{Spec: *sp, Heartbeat: r.Heartbeat})
	if err != nil {
		// Nothing will ever run it: it ends here, failed, saying why.
		_, _ = r.DriveFinish(context.WithoutCancel(ctx), sp.Run, plan.Ending{Status: runstore.RunInterrupted, Why: plan.WhyInterrupted})
		return nil, fmt.Errorf("the workflow of run %s could not be started on Temporal: %w", sp.Run, err)
	}
	if detach {
		return r.Engine.Get(ctx, sp.Run)
	}
	seq, _ := r.lastGo(ctx, sp.Run)
	return r.follow(ctx, sp.Run, max(0, seq-1))
}

// Resume of a run on Temporal that is interrupted (its workflow stopped,
// see settle) continues it in place under a new workflow, as a local
// resume does: its finished steps are kept, the others run, a wait waits
// on for what is left of its timeout. A run whose workflow goes on is
// followed: its workflow goes on by itself (after an answer, say). A local
// run resumes as the engine does.
func (r *Runner) Resume(ctx context.Context, ref string, parallel int, opts ...engine.ContinueOption) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta.Temporal == nil {
		return r.Engine.Resume(ctx, ref, parallel, opts...)
	}
	if meta, err = r.settle(ctx, meta); err != nil {
		return nil, err
	}
	if meta.Status == engine.RunInterrupted {
		tref := r.nextRef(meta)
		sp, err := r.ResumeDriven(ctx, meta.ID, parallel, tref, opts...)
		var nothing *engine.NotContinued
		if errors.As(err, &nothing) {
			return nothing.Run, nil
		}
		if err != nil {
			return nil, err
		}
		return r.launch(ctx, sp, tref.WorkflowID, false)
	}
	r.mu.Lock()
	after, answered := r.answered[meta.ID]
	r.mu.Unlock()
	if !answered {
		after = r.lastEvent(ctx, meta.ID)
	}
	run, err := r.Engine.Get(ctx, meta.ID)
	if err != nil || run.Status != engine.RunRunning {
		return run, err
	}
	if !answered {
		r.emit(engine.Event{Type: engine.EventRunStarted, RunID: meta.ID, Run: run, Time: time.Now().UTC()})
	}
	return r.follow(ctx, meta.ID, after)
}

// lastEvent is the number of run id's last journal event (0: none).
func (r *Runner) lastEvent(ctx context.Context, id string) int64 {
	evs, _, err := r.Store().Events(ctx, id, 0, 0)
	if err != nil || len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// Retry retries a run in place on Temporal (failed steps, and those that
// followed them, run again) under a new workflow, following it as Start
// does.
func (r *Runner) Retry(ctx context.Context, ref string, parallel int, opts ...engine.ContinueOption) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta, err = r.settle(ctx, meta); err != nil {
		return nil, err
	}
	tref := r.nextRef(meta)
	sp, err := r.RetryDriven(ctx, meta.ID, parallel, tref, opts...)
	if err != nil {
		return nil, err
	}
	return r.launch(ctx, sp, tref.WorkflowID, false)
}

// Replay records a new run from a recorded one and runs it on Temporal,
// following it as Start does.
func (r *Runner) Replay(ctx context.Context, opts engine.ReplayOptions) (*engine.Run, error) {
	sp, err := r.ReplayDriven(ctx, opts, runstore.TemporalRef{Namespace: r.Namespace, TaskQueue: r.TaskQueue})
	if err != nil {
		return nil, err
	}
	return r.launch(ctx, sp, sp.Run, false)
}

// Answer checks the answer against the step's schema, then sends it to
// the run's workflow as an update, which returns once the workflow has
// recorded it, or says why it refused it (the schema, checked again where
// it is recorded; the step no longer waits).
func (r *Runner) Answer(ctx context.Context, ref, step string, value json.RawMessage) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta.Temporal == nil {
		return r.Engine.Answer(ctx, ref, step, value)
	}
	if meta, err = r.settle(ctx, meta); err != nil {
		return nil, err
	}
	if meta.Status == engine.RunInterrupted {
		// No workflow drives it: the answer is recorded here, and a
		// resume continues it under a new one.
		return r.Engine.Answer(ctx, meta.ID, step, value)
	}
	id, err := r.CheckAnswer(ctx, meta.ID, step, value)
	if err != nil {
		return nil, err
	}
	last := r.lastEvent(ctx, meta.ID)
	// An update: it returns once the workflow has recorded the answer,
	// or with why it refused it.
	h, err := r.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: meta.Temporal.WorkflowID, UpdateName: UpdateAnswer,
		Args: []any{Answer{Step: id, Value: value}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		var refused *temporal.ApplicationError
		if errors.As(err, &refused) && refused.Type() == errUsageType {
			return nil, &engine.UsageError{Err: fmt.Errorf("the answer was refused: %s", refused.Message())}
		}
		return nil, r.workflowErr(meta, err)
	}
	// What the answer set going is shown; a Resume that follows the run
	// shows the rest.
	run, err := r.Engine.Get(ctx, meta.ID)
	if err != nil {
		return nil, err
	}
	r.emit(engine.Event{Type: engine.EventRunStarted, RunID: meta.ID, Run: run, Time: time.Now().UTC()})
	evs, _, err := r.Store().Events(ctx, meta.ID, last, 0)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		last = ev.Seq
		r.emit(r.whole(ctx, ev))
	}
	r.mu.Lock()
	if r.answered == nil {
		r.answered = map[string]int64{}
	}
	r.answered[meta.ID] = last
	r.mu.Unlock()
	return r.Engine.Get(ctx, meta.ID)
}

// whole is ev with the run's whole record, when it carries the run: the
// journal keeps only its summary, an observer is given the record, as
// the engine's is.
func (r *Runner) whole(ctx context.Context, ev engine.Event) engine.Event {
	if ev.Run != nil {
		if full, err := r.Engine.Get(ctx, ev.RunID); err == nil {
			ev.Run = full
		}
	}
	return ev
}

// Abort of a run on Temporal cancels its workflow.
func (r *Runner) Abort(ctx context.Context, ref, step string) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta.Temporal == nil {
		return r.Engine.Abort(ctx, ref, step)
	}
	return r.Cancel(ctx, meta.ID)
}

// Cancel of a run on Temporal cancels its workflow: its running steps
// stop at their next heartbeat and it ends cancelled.
func (r *Runner) Cancel(ctx context.Context, ref string) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if meta.Temporal == nil {
		return r.Engine.Cancel(ctx, ref)
	}
	if meta, err = r.settle(ctx, meta); err != nil {
		return nil, err
	}
	if meta.Status == engine.RunInterrupted {
		// No workflow drives it: it is cancelled here.
		return r.Engine.Cancel(ctx, meta.ID)
	}
	switch meta.Status {
	case engine.RunCompleted, engine.RunFailed, engine.RunCancelled:
		return nil, &engine.UsageError{Err: fmt.Errorf("run %s has already ended %s; there is nothing to cancel", meta.ID, meta.Status)}
	}
	if err := r.Client.CancelWorkflow(ctx, meta.Temporal.WorkflowID, ""); err != nil {
		return nil, r.workflowErr(meta, err)
	}
	return r.Engine.Get(ctx, meta.ID)
}

func (r *Runner) metaOf(ctx context.Context, ref string) (*engine.RunMeta, error) {
	id, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.Meta(ctx, id)
}

// workflowErr is an error of Temporal about run meta's workflow, said
// about the run.
func (r *Runner) workflowErr(meta *engine.RunMeta, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("the workflow of run %s is not on Temporal (namespace %s) any more: %w", meta.ID, meta.Temporal.Namespace, err)
	}
	return fmt.Errorf("Temporal did not take the request for run %s: %w", meta.ID, err)
}

func (r *Runner) poll() time.Duration {
	if r.Poll > 0 {
		return r.Poll
	}
	return 200 * time.Millisecond
}

func (r *Runner) emit(ev engine.Event) {
	if r.Observer != nil {
		r.Observer.Event(ev)
	}
}

// follow passes run id's journal after event `after` on to the Observer
// until the run ends or waits, and returns its record. A run whose first
// step has not started after NoWorker is checked for workers: with none
// polling, it says so (the run stays queued for when one comes). A stop
// (ctx) stops only the following: the run goes on on Temporal.
func (r *Runner) follow(ctx context.Context, id string, after int64) (*engine.Run, error) {
	st := r.Store()
	noWorker := r.NoWorker
	if noWorker <= 0 {
		noWorker = 5 * time.Second
	}
	checkAt := time.Now().Add(noWorker)
	settleAt := time.Now().Add(settleEvery)
	stepped := after > 0
	for {
		if time.Now().After(settleAt) {
			// Its workflow may have stopped without ending it.
			settleAt = time.Now().Add(settleEvery)
			if meta, err := r.Meta(ctx, id); err == nil {
				_, _ = r.settle(ctx, meta)
			}
		}
		// The status is read before the journal so that the events that
		// came before it ended are not missed.
		meta, err := st.LoadSummary(ctx, id)
		if err != nil {
			return nil, err
		}
		evs, _, err := st.Events(ctx, id, after, 0)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			after = ev.Seq
			if ev.Type == engine.EventStepStarted {
				stepped = true
			}
			r.emit(r.whole(ctx, ev))
			if ev.Type == engine.EventRunFinished {
				return r.Engine.Get(ctx, id)
			}
		}
		if meta.Status == engine.RunInterrupted && len(evs) == 0 {
			// Settled: no workflow drives it any more.
			return r.Engine.Get(ctx, id)
		}
		if meta.Status == engine.RunWaiting {
			run, err := r.Engine.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			r.emit(engine.Event{Type: engine.EventRunFinished, RunID: id, Run: run, Time: time.Now().UTC()})
			return run, nil
		}
		if !stepped && time.Now().After(checkAt) {
			checkAt = time.Now().Add(time.Minute)
			if err := r.CheckWorkers(ctx); err != nil {
				run, _ := r.Engine.Get(ctx, id)
				return run, err
			}
		}
		select {
		case <-ctx.Done():
			run, _ := r.Engine.Get(context.WithoutCancel(ctx), id)
			return run, fmt.Errorf("stopped following run %s, which goes on on Temporal: %w", id, ctx.Err())
		case <-time.After(r.poll()):
		}
	}
}

// CheckWorkers says (ErrNoWorker) when no worker polls the task queue.
func (r *Runner) CheckWorkers(ctx context.Context) error {
	n, err := Pollers(ctx, r.Client, r.Namespace, r.TaskQueue)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w %s of namespace %s: start one with `kitaru worker` (the run waits for it)", ErrNoWorker, r.TaskQueue, r.Namespace)
	}
	return nil
}

// Pollers is how many workers poll task queue queue for activities now.
func Pollers(ctx context.Context, c client.Client, namespace, queue string) (int, error) {
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_ACTIVITY,
	})
	if err != nil {
		return 0, fmt.Errorf("cannot ask Temporal who polls task queue %s: %w", queue, err)
	}
	return len(resp.GetPollers()), nil
}
