package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// Every missing, cut-short or hand-damaged file of a run gives each command
// a sentence naming the file and what to do: never a panic, never an
// "internal error", never a guess.
func TestDamagedRunFiles(t *testing.T) {
	t.Parallel()
	const (
		runFile  = "run.json"
		planFile = "plan.json"
		flowFile = "flow.yaml"
		stepFile = "steps/a/result.json"
	)
	type op string
	const (
		get, logs, replay, resume, retry, answer, abort, cancel op = "get", "logs", "replay", "resume", "retry", "answer", "abort", "cancel"
	)
	all := []op{get, logs, replay, resume, retry, answer, abort, cancel}
	withPlan := []op{get, logs, resume, retry, answer, abort, cancel} // a replay needs no plan
	withFlow := []op{resume, retry, replay}
	withSteps := []op{resume, retry, answer, abort}
	write := func(name, content string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A named pipe in a record's place: reading it must not wait for a
	// writer (a list of every run would hang on it).
	fifo := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := mkfifo(p); err != nil {
				t.Skipf("cannot make a named pipe here: %v", err)
			}
		}
	}
	remove := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		file   string // the file every failing command names
		fail   []op
	}{
		{"only the directory (killed while being created)", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}, runFile, all},
		{"run.json missing", remove(runFile), runFile, all},
		{"run.json empty", write(runFile, ""), runFile, all},
		{"run.json cut short", write(runFile, `{"id": "kr-`), runFile, all},
		{"run.json an empty object", write(runFile, `{}`), runFile, all},
		{"run.json of another run", write(runFile, `{"id": "kr-someother", "status": "waiting"}`), runFile, all},
		{"run.json without a status", write(runFile, `{"id": "RUNID"}`), runFile, all},
		{"plan.json missing", remove(planFile), planFile, withPlan},
		{"plan.json cut short", write(planFile, `{"plan": ["a chec`), planFile, withPlan},
		{"plan.json an empty object", write(planFile, `{}`), planFile, withPlan},
		{"plan.json not the flow's steps", write(planFile, `{"plan": ["zz checkpoint"]}`), planFile, []op{resume, retry}},
		{"flow.yaml missing", remove(flowFile), flowFile, withFlow},
		{"flow.yaml empty", write(flowFile, ""), flowFile, withFlow},
		{"flow.yaml not a flow", write(flowFile, "name: x\nsteps: [\n"), flowFile, withFlow},
		{"step record cut short", write(stepFile, `{"id": "a", "sta`), stepFile, withSteps},
		{"step record an empty object", write(stepFile, `{}`), stepFile, withSteps},
		{"step record of another step", write(stepFile, `{"id": "b", "status": "completed"}`), stepFile, withSteps},
		{"run.json a named pipe", fifo(runFile), runFile, all},
		{"plan.json a named pipe", fifo(planFile), planFile, withPlan},
		{"flow.yaml a named pipe", fifo(flowFile), flowFile, withFlow},
		{"step record a named pipe", fifo(stepFile), stepFile, withSteps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			run := te.start(te.flow(`
name: damaged
steps:
  a: {kind: checkpoint, value: one}
  b:
    kind: wait
    needs: [a]
    question: ok?
`), nil)
			wantStatus(t, run, RunWaiting)
			dir := filepath.Join(te.files.Root(), run.ID)
			tc.damage(t, dir)
			// A case names the run's own id as RUNID.
			if st, err := os.Stat(filepath.Join(dir, runFile)); err == nil && st.Mode().IsRegular() {
				if b, err := os.ReadFile(filepath.Join(dir, runFile)); err == nil && strings.Contains(string(b), "RUNID") {
					write(runFile, strings.ReplaceAll(string(b), "RUNID", run.ID))(t, dir)
				}
			}
			want := filepath.Join(dir, tc.file)
			ctx := t.Context()
			do := map[op]func() error{
				get:    func() error { _, err := te.eng.Get(ctx, run.ID); return err },
				logs:   func() error { return te.eng.Logs(ctx, run.ID, "", false, func(LogLine) error { return nil }) },
				replay: func() error { _, err := te.eng.Replay(ctx, ReplayOptions{Source: run.ID}); return err },
				resume: func() error { _, err := te.eng.Resume(ctx, run.ID, 0); return err },
				retry:  func() error { _, err := te.eng.Retry(ctx, run.ID, 0); return err },
				answer: func() error { _, err := te.eng.Answer(ctx, run.ID, "", json.RawMessage(`"yes"`)); return err },
				abort:  func() error { _, err := te.eng.Abort(ctx, run.ID, ""); return err },
				cancel: func() error { _, err := te.eng.Cancel(ctx, run.ID); return err },
			}
			failing := map[op]bool{}
			for _, o := range tc.fail {
				failing[o] = true
			}
			// The commands that may succeed (and change the run) go last.
			for _, o := range all {
				if !failing[o] {
					continue
				}
				err := callSafely(do[o])
				var de *DamagedError
				switch {
				case err == nil:
					t.Errorf("%s over a damaged %s succeeded", o, tc.file)
				case strings.Contains(err.Error(), "internal error") || strings.Contains(err.Error(), "panic"):
					t.Errorf("%s: %v", o, err)
				case !errors.As(err, &de) || de.Where != want:
					t.Errorf("%s: %v; want a *DamagedError naming %s", o, err, want)
				case !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "mov"):
					t.Errorf("%s: %q does not name the file and what to do", o, err)
				}
			}
			for _, o := range all {
				if !failing[o] {
					if err := callSafely(do[o]); err != nil && strings.Contains(err.Error(), "panic") {
						t.Errorf("%s: %v", o, err)
					}
				}
			}
		})
	}
}

// callSafely turns a panic into an error, so one case's crash does not hide
// the others.
func callSafely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// The run that Get shows with a damaged step record lists the step as failed,
// naming the file; the file is what executions get prints.
func TestDamagedStepShownByGet(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	run := te.start(te.flow("name: d\nsteps:\n  a: {kind: checkpoint, value: one}\n"), nil)
	p := filepath.Join(te.files.StepDir(run.ID, "a"), "result.json")
	if err := os.WriteFile(p, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := te.eng.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := step(t, got, "a"); a.Status != StepFailed || a.Error == nil || !strings.Contains(*a.Error, p) {
		t.Errorf("a damaged step shows as %+v", a)
	}
}

// damagedLogStore reports line 2 of every log damaged, as a shared store
// does a row that does not decode.
type damagedLogStore struct{ runstore.Store }

func (s damagedLogStore) Logs(ctx context.Context, id string, after int64) ([]LogLine, error) {
	lines, err := s.Store.Logs(ctx, id, after)
	if err != nil || after >= 2 {
		return lines, err
	}
	var kept []LogLine
	for _, l := range lines {
		if l.Seq != 2 {
			kept = append(kept, l)
		}
	}
	return kept, &runstore.DamagedError{RunID: id, Part: runstore.PartLog, Line: 2, Where: "line 2 of the log of run " + id, Problem: "is damaged (bad)"}
}

// A damaged log line is said and the other lines are shown.
func TestDamagedLogLineIsSaid(t *testing.T) {
	t.Parallel()
	st := damagedLogStore{memstore.New()}
	var warned []string
	eng := New(Config{Store: st, Warn: func(err error) { warned = append(warned, err.Error()) }})
	m := mkRun(t, st, "kr-0000000a", time.Now())
	if err := st.AppendLog(bg, m.ID, LogLine{Text: "one"}, LogLine{Text: "two"}, LogLine{Text: "three"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := eng.Logs(bg, m.ID, "", false, func(l LogLine) error { got = append(got, l.Text); return nil })
	if err != nil || strings.Join(got, " ") != "one three" {
		t.Fatalf("Logs = %q, %v; want the line that reads", got, err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "line 2 of the log of run kr-0000000a is damaged (bad); it is left out") {
		t.Fatalf("warned %q, want the damaged line said once", warned)
	}
}
