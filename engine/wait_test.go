package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

const waitFlow = `
name: waiting
steps:
  draft:
    kind: checkpoint
    run: echo x >> COUNTER/draft; echo the draft
  approval:
    kind: wait
    question: Publish ${{ steps.draft.output }}?
    schema: {type: boolean}
  details:
    kind: wait
    if: steps.approval.output == true
    question: Where?
    schema:
      type: object
      required: [channel]
      properties:
        channel: {type: string, enum: [blog, newsletter]}
  publish:
    kind: checkpoint
    run: echo x >> COUNTER/publish; echo ${{ steps.details.output.channel }}
output: ${{ steps.publish.output }}
`

func TestWaitAnswerResume(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(waitFlow), nil)
	wantStatus(t, run, RunWaiting)
	a := step(t, run, "approval")
	if a.Status != StepWaiting || a.Wait == nil || a.Wait.Question != "Publish the draft?" || a.Wait.Schema["type"] != "boolean" {
		t.Fatalf("approval %+v", a)
	}
	// A bad answer is refused with the validator's reason; the run waits on.
	_, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`"yes"`))
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "it is a string; the schema wants boolean") {
		t.Fatalf("bad answer: %v", err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`{not json`)); !errors.As(err, &ue) {
		t.Fatalf("non-JSON answer: %v", err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "publish", json.RawMessage(`true`)); !errors.As(err, &ue) || !strings.Contains(err.Error(), "waiting: approval") {
		t.Fatalf("answer to a step not waiting: %v", err)
	}
	got, _ := te.eng.Get(t.Context(), run.ID)
	wantStatus(t, got, RunWaiting)
	if _, err := te.eng.Answer(t.Context(), "last", "approval", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`{"channel": "radio"}`)); !errors.As(err, &ue) || !strings.Contains(err.Error(), "channel") {
		t.Fatalf("answer outside the enum: %v", err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`{"channel": "blog"}`)); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "blog" || te.count("draft") != 1 || te.count("publish") != 1 {
		t.Fatalf("output %#v, draft ran %d, publish %d", run.Output, te.count("draft"), te.count("publish"))
	}
	if d := step(t, run, "details"); d.Wait == nil || !d.Wait.Answered {
		t.Fatalf("details %+v", d)
	}
}

func TestWaitAbort(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(waitFlow), nil)
	wantStatus(t, run, RunWaiting)
	run, err := te.eng.Abort(t.Context(), run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCancelled)
	if _, err := te.eng.Resume(t.Context(), run.ID, 0); err == nil {
		t.Fatal("a cancelled run resumed")
	}
}

func TestCancelNotRunning(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(waitFlow), nil)
	got, err := te.eng.Cancel(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, RunCancelled)
	if _, err := te.eng.Cancel(t.Context(), run.ID); err == nil {
		t.Fatal("cancelling a cancelled run was accepted")
	}
}

// A wait's own timeout: an answer after it fails the run, and retry asks
// the question again. defaults.timeout does not apply to waits.
func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: deadline
defaults: {timeout: 1ms}
steps:
  patient:
    kind: wait
    question: no hurry?
  hasty:
    kind: wait
    question: quick?
    timeout: 1ms
`)
	if f.Step("patient").Timeout != 0 || f.Step("hasty").Timeout != time.Millisecond {
		t.Fatalf("timeouts %v %v", f.Step("patient").Timeout, f.Step("hasty").Timeout)
	}
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	time.Sleep(5 * time.Millisecond)
	if _, err := te.eng.Answer(t.Context(), run.ID, "patient", json.RawMessage(`true`)); err != nil {
		t.Fatalf("an answer to a wait without timeout was refused: %v", err)
	}
	got, err := te.eng.Answer(t.Context(), run.ID, "hasty", json.RawMessage(`true`))
	if fix := runstore.RemedyOf(err); err == nil || fix == nil || fix.Do != runstore.RemedyAskAgain {
		t.Fatalf("a late answer was taken: %v", err)
	}
	wantStatus(t, got, RunFailed)
	run, err = te.eng.Retry(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if s := step(t, run, "hasty"); s.Status != StepWaiting || s.Wait == nil || s.Wait.Deadline == nil {
		t.Fatalf("after retry hasty is %+v", s)
	}
}
