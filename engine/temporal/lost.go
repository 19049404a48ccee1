package temporal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A run's workflow records the run's end itself, even when it fails (see
// guard). What it cannot record (it was terminated, its worker's SDK
// failed it, it is gone from Temporal, the store refused the record) is
// found here, by whoever reads the run next: a run recorded going on whose
// workflow has closed is recorded as that workflow ended, failed or
// interrupted, with the cause.

// startGrace is how long a run's workflow may be missing from Temporal
// after its go started: the run is recorded before its workflow starts.
const startGrace = time.Minute

// settle records the end of run meta when its workflow closed without
// recording it, and returns the meta as it then stands. Temporal not
// answering leaves the run as it reads.
func (r *Runner) settle(ctx context.Context, meta *engine.RunMeta) (*engine.RunMeta, error) {
	if meta.Temporal == nil || (meta.Status != engine.RunRunning && meta.Status != engine.RunWaiting) {
		return meta, nil
	}
	code, msg := r.workflowEnd(ctx, meta)
	if code == "" {
		return meta, nil
	}
	if _, err := r.DriveAbandon(context.WithoutCancel(ctx), meta.ID, code, msg); err != nil {
		return nil, err
	}
	return r.Meta(ctx, meta.ID)
}

// settleRead is settle for a read (Get, List), which a page may make
// several times a second: Temporal is asked about a run at most once per
// readEvery in this process.
func (r *Runner) settleRead(ctx context.Context, meta *engine.RunMeta) (*engine.RunMeta, error) {
	r.mu.Lock()
	if r.asked == nil {
		r.asked = map[string]time.Time{}
	}
	last, seen := r.asked[meta.ID]
	now := time.Now()
	if seen && now.Sub(last) < readEvery {
		r.mu.Unlock()
		return meta, nil
	}
	r.asked[meta.ID] = now
	r.mu.Unlock()
	return r.settle(ctx, meta)
}

// readEvery: see settleRead.
const readEvery = 2 * time.Second

// workflowEnd says how run meta's workflow ended, when it has: "" while
// it goes on, or when Temporal cannot tell.
func (r *Runner) workflowEnd(ctx context.Context, meta *engine.RunMeta) (runstore.EndCode, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wf := meta.Temporal.WorkflowID
	desc, err := r.Client.DescribeWorkflowExecution(ctx, wf, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if _, at := r.lastGo(ctx, meta.ID); time.Since(at) < startGrace {
			return "", "" // its workflow is being started
		}
		return runstore.EndWorkflowLost, fmt.Sprintf("its workflow %s is not on Temporal (namespace %s) any more", wf, meta.Temporal.Namespace)
	}
	if err != nil {
		return "", ""
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	var how string
	code := runstore.EndWorkflowLost
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "", ""
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		code, how = runstore.EndWorkflowFailed, "its workflow failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		code, how = runstore.EndWorkflowFailed, "its workflow timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		how = "its workflow was terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		how = "its workflow was cancelled before it ended the run"
	default:
		how = "its workflow ended (" + strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_")) + ") without ending the run"
	}
	if code == runstore.EndWorkflowFailed {
		if err := r.Client.GetWorkflow(ctx, wf, "").Get(ctx, nil); err != nil {
			how += ": " + cause(err)
		}
	}
	return code, how
}

// lastGo is the number and time of run id's last run_started event: when
// the go now at it began (zero when the journal cannot be read).
func (r *Runner) lastGo(ctx context.Context, id string) (int64, time.Time) {
	evs, _, err := r.Store().Events(ctx, id, 0, 0)
	if err != nil {
		return 0, time.Time{}
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == engine.EventRunStarted {
			return evs[i].Seq, evs[i].Time
		}
	}
	return 0, time.Time{}
}

// nextRef is the workflow a new go at run meta (a retry, a resume) runs
// under: each go has its own workflow id (the run's, then id.2, id.3…), so
// the last one's end is never taken for the new one's.
func (r *Runner) nextRef(meta *engine.RunMeta) runstore.TemporalRef {
	n := 1
	if meta.Temporal != nil {
		if rest, ok := strings.CutPrefix(meta.Temporal.WorkflowID, meta.ID+"."); ok {
			if k, err := strconv.Atoi(rest); err == nil {
				n = k
			}
		}
	}
	return runstore.TemporalRef{Namespace: r.Namespace, TaskQueue: r.TaskQueue, WorkflowID: fmt.Sprintf("%s.%d", meta.ID, n+1)}
}

// Get reads a run's record, settling it first (see settle).
func (r *Runner) Get(ctx context.Context, ref string) (*engine.Run, error) {
	meta, err := r.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if _, err := r.settleRead(ctx, meta); err != nil {
		return nil, err
	}
	return r.Engine.Get(ctx, meta.ID)
}

// List lists the runs as the engine does, the ones on Temporal still
// going settled first.
func (r *Runner) List(ctx context.Context, f engine.ListFilter) ([]*engine.Run, error) {
	runs, err := r.Engine.List(ctx, f)
	for i, run := range runs {
		if run.Status != engine.RunRunning && run.Status != engine.RunWaiting {
			continue
		}
		meta, merr := r.Meta(ctx, run.ID)
		if merr != nil || meta.Temporal == nil {
			continue
		}
		if now, serr := r.settleRead(ctx, meta); serr == nil && now.Status != meta.Status {
			s := now.Run
			s.Steps = run.Steps
			runs[i] = &s
		}
	}
	if f.Status != "" {
		// A run settled above may no longer be one the filter asks for.
		runs = slices.DeleteFunc(runs, func(run *engine.Run) bool { return run.Status != f.Status })
	}
	return runs, err
}
