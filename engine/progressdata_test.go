package engine

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// The items of a foreach llm step keep the model each called, and the step
// the one they all called; a failed llm step keeps the model it was to
// call, though none answered.
func TestModelsOfForeachAndFailedSteps(t *testing.T) {
	t.Parallel()
	f := `
name: models
steps:
  each:
    kind: llm
    model: fast
    foreach: '${{ ["a", "b"] }}'
    prompt: say ${{ item }}
`
	te := newEnv(t)
	te.models.reg = registry(map[string]string{"fast": "openai/a"}, "")
	run := te.start(te.flow(f), nil)
	wantStatus(t, run, RunCompleted)
	each := step(t, run, "each")
	for _, it := range each.Items {
		if it.Model != "fake/model" || it.Alias != "fast" {
			t.Errorf("item %d: model %q alias %q, want fake/model of fast", it.Index, it.Model, it.Alias)
		}
	}
	if each.Model != "fake/model" || each.Alias != "fast" {
		t.Errorf("step: model %q alias %q, want its items' fake/model of fast", each.Model, each.Alias)
	}

	te = newEnv(t)
	te.models.reg = registry(map[string]string{"fast": "openai/a"}, "")
	te.models.fail = errors.New("401 Unauthorized")
	run = te.start(te.flow(f), nil)
	wantStatus(t, run, RunFailed)
	each = step(t, run, "each")
	for _, it := range each.Items {
		if it.Status != StepFailed || it.Model != "openai/a" || it.Alias != "fast" {
			t.Errorf("failed item %d: %s, model %q alias %q, want openai/a of fast", it.Index, it.Status, it.Model, it.Alias)
		}
	}
	if each.Model != "openai/a" {
		t.Errorf("failed step: model %q, want openai/a", each.Model)
	}
}

// waitThenRun waits for an answer, then runs a command.
const waitThenRun = `
name: active
steps:
  approval:
    kind: wait
    question: ok?
    schema: {type: boolean}
  after:
    kind: checkpoint
    run: echo done
`

// A run's active time sums its goes: the time it waited for an answer
// between them is in its wall time only.
func TestActiveTimeLeavesOutTheWait(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(waitThenRun)
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	if run.ActiveMS <= 0 || run.ActiveMS > run.EndedAt.Sub(run.StartedAt).Milliseconds()+1 {
		t.Errorf("a first go of %s has active_ms %d", run.EndedAt.Sub(run.StartedAt), run.ActiveMS)
	}
	first := run.ActiveMS
	time.Sleep(1200 * time.Millisecond)
	if _, err := te.eng.Answer(t.Context(), run.ID, "approval", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	done, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, done, RunCompleted)
	wall := done.EndedAt.Sub(done.StartedAt)
	active := time.Duration(done.ActiveMS) * time.Millisecond
	if done.ActiveMS < first || wall-active < time.Second {
		t.Errorf("active %s of wall %s (first go %dms): the wait must count in the wall time only", active, wall, first)
	}
}
