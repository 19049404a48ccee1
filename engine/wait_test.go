package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
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
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "want boolean") {
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
