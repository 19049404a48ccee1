package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A wait answered without resuming the run, then replayed: the replay
// reuses the answer instead of asking the question again.
func TestReplayOfAnsweredWaitReusesTheAnswer(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(waitFlow), nil)
	wantStatus(t, run, RunWaiting)
	if _, err := te.eng.Answer(t.Context(), run.ID, "approval", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	rep, err := te.eng.Replay(t.Context(), ReplayOptions{Source: "last"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, RunWaiting)
	if a := step(t, rep, "approval"); !a.Reused || a.Status != StepCompleted || a.Output != true {
		t.Fatalf("the replay's approval is %s (reused %v, output %v): the answered question was asked again", a.Status, a.Reused, a.Output)
	}
	if d := step(t, rep, "details"); d.Status != StepWaiting {
		t.Fatalf("the replay's details is %s, want waiting", d.Status)
	}
	if te.count("draft") != 1 {
		t.Fatalf("draft ran %d times, want once", te.count("draft"))
	}
}

// Every way of changing a run outside its run loop leaves the meta as the
// loop would: the index agrees with the step records, and a run that ended
// has its end time.
func TestSettleKeepsTheIndex(t *testing.T) {
	t.Parallel()
	const flow = `
name: settle
steps:
  draft:
    kind: llm
    prompt: write it
  approval:
    kind: wait
    question: Publish?
    timeout: 1h
`
	for _, tc := range []struct {
		name   string
		act    func(te *testEnv, id string) error
		status RunStatus
		step   StepStatus // approval's status in the index
		ending Ending
	}{
		{"answer", func(te *testEnv, id string) error {
			_, err := te.eng.Answer(t.Context(), id, "", json.RawMessage(`true`))
			return err
		}, RunWaiting, StepCompleted, Ending{Code: runstore.EndWaiting, Step: "approval"}},
		{"abort", func(te *testEnv, id string) error {
			_, err := te.eng.Abort(t.Context(), id, "")
			return err
		}, RunCancelled, StepFailed, Ending{Code: runstore.EndAborted, Step: "approval"}},
		{"cancel", func(te *testEnv, id string) error {
			_, err := te.eng.Cancel(t.Context(), id)
			return err
		}, RunCancelled, StepWaiting, Ending{Code: runstore.EndCancelled}},
		{"expired", func(te *testEnv, id string) error {
			// Moves the deadline into the past, as an hour's wait would.
			r, err := te.store.LoadStep(bg, id, "approval")
			if err != nil {
				return err
			}
			past := time.Now().Add(-time.Minute)
			r.Wait.Deadline = &past
			if err := te.store.SaveStep(bg, id, r); err != nil {
				return err
			}
			_, err = te.eng.Answer(t.Context(), id, "", json.RawMessage(`true`))
			if err == nil {
				t.Error("a late answer was taken")
			}
			return nil
		}, RunFailed, StepFailed, Ending{Code: runstore.EndStepFailed, Step: "approval"}}, // the run goes on after the expired wait, as after any failed step
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			run := te.start(te.flow(flow), nil)
			wantStatus(t, run, RunWaiting)
			before, err := te.store.LoadMeta(bg, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.act(te, run.ID); err != nil {
				t.Fatal(err)
			}
			meta, err := te.store.LoadMeta(bg, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Status != tc.status {
				t.Errorf("status %s, want %s", meta.Status, tc.status)
			}
			// The ending is data; the error only what a step said (the
			// expired wait's).
			if meta.Ending == nil || !reflect.DeepEqual(*meta.Ending, tc.ending) {
				t.Errorf("ending %+v, want %+v", meta.Ending, tc.ending)
			}
			if wantErr := tc.status == RunFailed; (meta.Error != nil) != wantErr ||
				wantErr && !strings.HasPrefix(*meta.Error, "no answer before the wait's timeout ran out") {
				t.Errorf("error %v", deref(meta.Error))
			}
			if got := meta.Index["approval"].Status; got != tc.step {
				t.Errorf("the index says approval is %q, want %s", got, tc.step)
			}
			if got := meta.Index["draft"].Status; got != StepCompleted {
				t.Errorf("the index says draft is %q, want completed", got)
			}
			if meta.Usage.InputTokens != 10 || meta.CostUSD != 0.5 {
				t.Errorf("usage %+v cost %v, want the draft's 10 tokens in and $0.5", meta.Usage, meta.CostUSD)
			}
			switch {
			case meta.EndedAt == nil:
				t.Error("no ended_at")
			case !ended(tc.status) && !meta.EndedAt.Equal(*before.EndedAt):
				t.Errorf("ended_at of a run still waiting moved from %v to %v", before.EndedAt, meta.EndedAt)
			}
		})
	}
}

// While a run goes again (resume, retry), its meta holds no index: steps
// finish that it would not name, and a replay of the run killed then must
// read their records.
func TestIndexIsDroppedWhileARunGoesAgain(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: again
steps:
  gate:
    kind: wait
    question: go?
  after:
    kind: checkpoint
    needs: [gate]
    run: while [ ! -f COUNTER/go ]; do sleep 0.02; done
`)
	run := te.start(f, nil)
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := te.eng.Resume(t.Context(), run.ID, 0)
		done <- err
	}()
	for {
		meta, err := te.store.LoadMeta(bg, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if meta.Status == RunRunning {
			if meta.Index != nil {
				t.Errorf("the meta of a run going again keeps its index %v", meta.Index)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(te.counter, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	meta, err := te.store.LoadMeta(bg, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Index["after"].Status != StepCompleted {
		t.Errorf("the index at the end: %v", meta.Index)
	}
}
