package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/worker"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// StepRequest names a step of a run.
type StepRequest struct {
	Run  string `json:"run"`
	Step string `json:"step"`
}

// ItemRequest names an item of a foreach step.
type ItemRequest struct {
	Run   string `json:"run"`
	Step  string `json:"step"`
	Index int    `json:"index"`
}

// ForeachEndRequest ends a foreach step started at Started.
type ForeachEndRequest struct {
	Run     string    `json:"run"`
	Step    string    `json:"step"`
	Started time.Time `json:"started"`
}

// AnswerRequest answers a wait step.
type AnswerRequest struct {
	Run   string          `json:"run"`
	Step  string          `json:"step"`
	Value json.RawMessage `json:"value"`
}

// FailRequest fails a step its workflow gave up on.
type FailRequest struct {
	Run   string `json:"run"`
	Step  string `json:"step"`
	Error string `json:"error"`
}

// AbandonRequest records a run failed by its workflow's failure Error.
type AbandonRequest struct {
	Run   string `json:"run"`
	Error string `json:"error"`
}

// FinishRequest records where a run stands (Mark) or how it ended.
type FinishRequest struct {
	Run string      `json:"run"`
	End plan.Ending `json:"end"`
}

// Activities are the activities of Flow, over an engine whose store is
// the runs' shared one.
type Activities struct {
	Engine *engine.Engine
}

// Registry is what Register registers with: a worker.Worker, or the
// SDK's test environment.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// WorkerOptions are a kitaru worker's: at most slots activities at once,
// polled for by as many pollers as that (up to 8): with the SDK's 2, a
// wave of items scheduled together waits for pollers to come back one
// task at a time (64 calls of 250 ms at 16 places took 1.34–1.44× ideal,
// 1.25× with 8 each). A workflow whose code fails (a panic, a history it
// no longer replays) fails, so its run is recorded failed and can be
// retried (with a fixed kitaru) instead of staying stuck as running.
func WorkerOptions(slots int) worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize: slots,
		MaxConcurrentActivityTaskPollers:   max(2, min(slots, 8)),
		MaxConcurrentWorkflowTaskPollers:   4,
		WorkflowPanicPolicy:                worker.FailWorkflow,
	}
}

// Register registers Flow and a's activities under their names.
func Register(r Registry, a *Activities) {
	r.RegisterWorkflowWithOptions(Flow, workflow.RegisterOptions{Name: WorkflowName})
	for name, fn := range map[string]any{
		activityStep: a.Step, activityForeach: a.Foreach, activityItem: a.Item,
		activityForeachEnd: a.ForeachEnd, activityAnswer: a.Answer, activityExpire: a.Expire,
		activityFail: a.Fail, activityMark: a.Mark, activityFinish: a.Finish, activityAbandon: a.Abandon,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// Step runs one attempt of a step (after those its earlier activity
// attempts made, carried in their heartbeats) and records it.
func (a *Activities) Step(ctx context.Context, req StepRequest) (*engine.StepOutcome, error) {
	return attempt(ctx, func(prior *engine.Tries) (*engine.StepOutcome, error) {
		return a.Engine.DriveStep(ctx, req.Run, req.Step, prior)
	})
}

// Item runs one attempt of a foreach item and records it.
func (a *Activities) Item(ctx context.Context, req ItemRequest) (*engine.StepOutcome, error) {
	return attempt(ctx, func(prior *engine.Tries) (*engine.StepOutcome, error) {
		return a.Engine.DriveItem(ctx, req.Run, req.Step, req.Index, prior)
	})
}

// attempt makes one attempt at a unit with run, heartbeating meanwhile;
// an attempt to be tried again is a retryable error, its tries left in
// the last heartbeat for the next attempt.
func attempt(ctx context.Context, run func(prior *engine.Tries) (*engine.StepOutcome, error)) (*engine.StepOutcome, error) {
	prior := priorTries(ctx)
	stop := beat(ctx, prior)
	out, err := run(prior)
	stop()
	if err != nil {
		return nil, activityError(err)
	}
	if out.Again != nil {
		activity.RecordHeartbeat(ctx, *out.Again)
		return nil, temporal.NewApplicationError(fmt.Sprintf("attempt %d failed; it is tried again", out.Again.Attempts), errAgainType)
	}
	return out, nil
}

// Foreach starts a foreach step: which of its items are to run.
func (a *Activities) Foreach(ctx context.Context, req StepRequest) (*engine.ForeachOutcome, error) {
	out, err := a.Engine.DriveForeach(ctx, req.Run, req.Step)
	return out, activityError(err)
}

// ForeachEnd records a foreach step once its items are.
func (a *Activities) ForeachEnd(ctx context.Context, req ForeachEndRequest) (*engine.StepOutcome, error) {
	out, err := a.Engine.DriveForeachEnd(ctx, req.Run, req.Step, req.Started)
	return out, activityError(err)
}

// Answer records the answer to a wait step; one its schema refuses is an
// error no retry changes.
func (a *Activities) Answer(ctx context.Context, req AnswerRequest) (*engine.StepOutcome, error) {
	out, err := a.Engine.DriveAnswer(ctx, req.Run, req.Step, req.Value)
	return out, activityError(err)
}

// Expire fails a wait step whose timeout ran out.
func (a *Activities) Expire(ctx context.Context, req StepRequest) (*engine.StepOutcome, error) {
	out, err := a.Engine.DriveExpire(ctx, req.Run, req.Step)
	return out, activityError(err)
}

// Fail records a step its workflow gave up on.
func (a *Activities) Fail(ctx context.Context, req FailRequest) (*engine.StepOutcome, error) {
	out, err := a.Engine.DriveFail(ctx, req.Run, req.Step, req.Error)
	return out, activityError(err)
}

// Mark records that the run waits, or runs again.
func (a *Activities) Mark(ctx context.Context, req FinishRequest) error {
	return activityError(a.Engine.DriveMark(ctx, req.Run, req.End))
}

// Finish records the run's end.
func (a *Activities) Finish(ctx context.Context, req FinishRequest) error {
	_, err := a.Engine.DriveFinish(ctx, req.Run, req.End)
	return activityError(err)
}

// Abandon records the run failed: its workflow failed.
func (a *Activities) Abandon(ctx context.Context, req AbandonRequest) error {
	_, err := a.Engine.DriveAbandon(ctx, req.Run, runstore.EndWorkflowFailed, req.Error)
	return activityError(err)
}

// priorTries are the attempts the earlier attempts of this activity made
// at its unit, from the heartbeat the last one left.
func priorTries(ctx context.Context) *engine.Tries {
	if !activity.HasHeartbeatDetails(ctx) {
		return nil
	}
	var t engine.Tries
	if err := activity.GetHeartbeatDetails(ctx, &t); err != nil || t.Attempts == 0 {
		return nil
	}
	return &t
}

// beat heartbeats the activity until the returned function is called,
// carrying prior: so a worker that dies is noticed within the heartbeat
// timeout and the next attempt, elsewhere, still knows the unit's earlier
// attempts. The activity learns of its cancellation through it too.
func beat(ctx context.Context, prior *engine.Tries) (stop func()) {
	details := engine.Tries{}
	if prior != nil {
		details = *prior
	}
	every := time.Second
	if info := activity.GetInfo(ctx); info.HeartbeatTimeout > 0 {
		every = max(info.HeartbeatTimeout/4, 10*time.Millisecond)
	}
	activity.RecordHeartbeat(ctx, details)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// activityError marks the errors no retry can fix (a usage error: an
// answer its schema refuses, a step the run does not have) as such.
func activityError(err error) error {
	var ue *engine.UsageError
	if errors.As(err, &ue) {
		return temporal.NewNonRetryableApplicationError(err.Error(), errUsageType, err)
	}
	return err
}
