package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/flowspec"
)

// subFiles writes a parent flow and its sub-flows (COUNTER replaced) into
// a directory and loads the parent from there.
func (te *testEnv) subFiles(files map[string]string) (*flowspec.Flow, string) {
	te.t.Helper()
	dir := te.t.TempDir()
	for name, src := range files {
		te.writeSub(dir, name, src)
	}
	return te.loadSub(dir), dir
}

func (te *testEnv) writeSub(dir, name, src string) {
	te.t.Helper()
	src = strings.ReplaceAll(src, "COUNTER", te.counter)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
		te.t.Fatal(err)
	}
}

func (te *testEnv) loadSub(dir string) *flowspec.Flow {
	te.t.Helper()
	f, err := flowspec.Load(filepath.Join(dir, "main.yaml"), flowspec.Options{})
	if err != nil {
		te.t.Fatalf("flow does not load: %v", err)
	}
	return f
}

const summariseFlow = `name: summarise
inputs:
  text: {type: string}
steps:
  s:
    kind: checkpoint
    run: echo x >> COUNTER/s-${{ inputs.text }}; echo "sum of ${{ inputs.text }}"
output: ${{ steps.s.output }}
`

func TestSubFlowSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, main, child string
		status            RunStatus
		output            any
		stepErr           string // in the flow step's error
	}{
		{name: "output passes", status: RunCompleted, output: "got sum of doc",
			main:  "name: main\nsteps:\n  one: {kind: flow, flow: child.yaml, inputs: {text: doc}}\n  after: {kind: checkpoint, value: 'got ${{ steps.one.output }}'}\noutput: ${{ steps.after.output }}\n",
			child: summariseFlow},
		{name: "foreach of children", status: RunCompleted, output: []any{"sum of a", "sum of b"},
			main:  "name: main\ninputs:\n  docs: {type: list, default: [a, b]}\nsteps:\n  per_doc:\n    kind: flow\n    flow: child.yaml\n    foreach: ${{ inputs.docs }}\n    inputs: {text: \"${{ item }}\"}\noutput: ${{ steps.per_doc.output }}\n",
			child: summariseFlow},
		{name: "child failure", status: RunFailed, stepErr: "failed at step bad: the command exited with status 3",
			main:  "name: main\nsteps:\n  one: {kind: flow, flow: child.yaml}\n",
			child: "name: child\nsteps:\n  bad: {kind: checkpoint, run: 'echo broke >&2; exit 3'}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			f, _ := te.subFiles(map[string]string{"main.yaml": tt.main, "child.yaml": tt.child})
			run := te.start(f, nil)
			wantStatus(t, run, tt.status)
			if tt.output != nil {
				a, _ := json.Marshal(run.Output)
				b, _ := json.Marshal(tt.output)
				if string(a) != string(b) {
					t.Fatalf("output = %s, want %s", a, b)
				}
			}
			s := run.Steps[0]
			children := []string{s.ChildRun}
			if len(s.Items) > 0 {
				children = nil
				for _, it := range s.Items {
					children = append(children, it.ChildRun)
				}
			}
			for i, id := range children {
				if id == "" {
					t.Fatalf("step %s (item %d) names no child run", s.ID, i)
				}
				child, err := te.eng.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if p := child.Parent; p == nil || p.Run != run.ID || p.Step != s.ID || (len(s.Items) > 0) != (p.Item != nil) {
					t.Fatalf("child %s's parent is %+v", id, p)
				}
			}
			if tt.stepErr != "" && (s.Error == nil || !strings.Contains(*s.Error, tt.stepErr) || !strings.Contains(*s.Error, s.ChildRun)) {
				t.Fatalf("step error = %v, want %q and the child's id", *s.Error, tt.stepErr)
			}
		})
	}
}

// A wait inside the child makes the parent wait; the answer given to the
// parent reaches the child, and resuming the parent resumes the child.
func TestSubFlowWaits(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f, _ := te.subFiles(map[string]string{
		"main.yaml":  "name: main\nsteps:\n  one: {kind: flow, flow: child.yaml}\noutput: ${{ steps.one.output }}\n",
		"child.yaml": "name: child\nsteps:\n  first: {kind: checkpoint, run: 'echo x >> COUNTER/first; echo 1'}\n  ok: {kind: wait, question: 'Publish?', needs: [first]}\noutput: 'answer ${{ steps.ok.output }}'\n",
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	s := step(t, run, "one")
	if s.Status != StepWaiting || s.Wait == nil || s.Wait.Question != "Publish?" || s.ChildRun == "" {
		t.Fatalf("flow step = %+v", s)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`"yes"`)); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "answer yes" || te.count("first") != 1 {
		t.Fatalf("output %v, first ran %d times", run.Output, te.count("first"))
	}
	if got := step(t, run, "one").ChildRun; got != s.ChildRun {
		t.Fatalf("the resume started child %s, not %s", got, s.ChildRun)
	}

	// Aborting a parent that waits on its child aborts the child too.
	run = te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	run, err = te.eng.Abort(t.Context(), run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCancelled)
	child, err := te.eng.Get(t.Context(), step(t, run, "one").ChildRun)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, child, RunCancelled)
}

// A foreach item whose child waits makes the step wait with one question
// an item; each answer given to the parent goes to that item's child, the
// resume finishes the children, and nothing finished runs again. An abort
// ends the waiting children too.
func TestSubFlowForeachItemsWait(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f, _ := te.subFiles(map[string]string{
		"main.yaml":  "name: main\nsteps:\n  per: {kind: flow, flow: child.yaml, foreach: '${{ [\"a\", \"b\"] }}', inputs: {text: '${{ item }}'}}\noutput: ${{ steps.per.output }}\n",
		"child.yaml": "name: child\ninputs:\n  text: {type: string}\nsteps:\n  first: {kind: checkpoint, run: 'echo x >> COUNTER/first-${{ inputs.text }}; echo 1'}\n  ok: {kind: wait, question: 'Publish ${{ inputs.text }}?', schema: {type: boolean}, needs: [first]}\noutput: '${{ inputs.text }} ${{ steps.ok.output }}'\n",
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	s := step(t, run, "per")
	if s.Status != StepWaiting || s.Wait == nil || len(s.Wait.Calls) != 2 {
		t.Fatalf("the foreach step %s waits on %+v", s.Status, s.Wait)
	}
	for i, q := range s.Wait.Calls {
		if want := fmt.Sprintf("Publish %s?", []string{"a", "b"}[i]); q.Question != want || q.Item == nil || *q.Item != i || q.ChildRun == "" || q.Schema["type"] != "boolean" {
			t.Fatalf("question %d is %+v, want %q of item %d", i, q, want, i)
		}
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`"yes"`)); err == nil || !strings.Contains(err.Error(), "does not fit its schema") {
		t.Fatalf("an answer that breaks the child's schema: %v", err)
	}
	run = answer(t, te, run.ID, true)
	if s := step(t, run, "per"); s.Status != StepWaiting || len(s.Wait.Calls) != 1 || *s.Wait.Calls[0].Item != 1 {
		t.Fatalf("after one answer the step waits on %+v", s.Wait)
	}
	run = answer(t, te, run.ID, false)
	run = resume(t, te, run.ID)
	wantStatus(t, run, RunCompleted)
	if got, _ := json.Marshal(run.Output); string(got) != `["a true","b false"]` {
		t.Errorf("output %s", got)
	}
	for _, it := range []string{"a", "b"} {
		if n := te.count("first-" + it); n != 1 {
			t.Errorf("item %s's first child step ran %d times", it, n)
		}
	}

	run = te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	children := []string{step(t, run, "per").Wait.Calls[0].ChildRun, step(t, run, "per").Wait.Calls[1].ChildRun}
	if run, err := te.eng.Abort(t.Context(), run.ID, ""); err != nil || run.Status != RunCancelled {
		t.Fatalf("abort: %v, %v", run, err)
	}
	if c, _ := te.eng.Get(t.Context(), children[0]); c == nil || c.Status != RunCancelled {
		t.Errorf("the asking child of an aborted run is %v", c)
	}
}

// A replay reuses a flow step whose sub-flow is unchanged (its child does
// not run again) and reruns it, in a new child run, when the file changed.
func TestSubFlowReplay(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	main := "name: main\nsteps:\n  one: {kind: flow, flow: child.yaml, inputs: {text: doc}}\noutput: ${{ steps.one.output }}\n"
	f, dir := te.subFiles(map[string]string{"main.yaml": main, "child.yaml": summariseFlow})
	first := te.start(f, nil)
	wantStatus(t, first, RunCompleted)

	same, err := te.eng.Replay(t.Context(), ReplayOptions{Source: first.ID, Flow: te.loadSub(dir)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, same, RunCompleted)
	if s := step(t, same, "one"); !s.Reused || te.count("s-doc") != 1 {
		t.Fatalf("unchanged sub-flow: reused %v, its step ran %d times", s.Reused, te.count("s-doc"))
	}

	te.writeSub(dir, "child.yaml", strings.Replace(summariseFlow, `"sum of`, `"summary of`, 1))
	edited, err := te.eng.Replay(t.Context(), ReplayOptions{Source: first.ID, Flow: te.loadSub(dir)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, edited, RunCompleted)
	s := step(t, edited, "one")
	if s.Reused || edited.Output != "summary of doc" || te.count("s-doc") != 2 {
		t.Fatalf("edited sub-flow: reused %v, output %v, ran %d times", s.Reused, edited.Output, te.count("s-doc"))
	}
	if s.ChildRun == "" || s.ChildRun == step(t, first, "one").ChildRun {
		t.Fatalf("the rerun's child is %q, the first run's %q", s.ChildRun, step(t, first, "one").ChildRun)
	}
}

// Retry of the parent retries its failed child in place: the child's
// finished steps do not run again.
func TestSubFlowRetry(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f, _ := te.subFiles(map[string]string{
		"main.yaml":  "name: main\nsteps:\n  one: {kind: flow, flow: child.yaml}\noutput: ${{ steps.one.output }}\n",
		"child.yaml": "name: child\nsteps:\n  first: {kind: checkpoint, run: 'echo x >> COUNTER/first; echo 1'}\n  flaky: {kind: checkpoint, needs: [first], run: 'echo x >> COUNTER/flaky; test -f COUNTER/fixed && echo fixed'}\noutput: ${{ steps.flaky.output }}\n",
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	child := step(t, run, "one").ChildRun
	if err := os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Retry(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "fixed" || te.count("first") != 1 || te.count("flaky") != 2 || step(t, run, "one").ChildRun != child {
		t.Fatalf("output %v, first ran %d, flaky %d; child %s (was %s)", run.Output, te.count("first"), te.count("flaky"), step(t, run, "one").ChildRun, child)
	}
}

// A run keeps its sub-flows' sources: resumed after the file was removed
// (or edited), the flow step runs the sub-flow the run started with.
func TestSubFlowFromTheRunsRecord(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f, dir := te.subFiles(map[string]string{
		"main.yaml":  "name: main\nsteps:\n  go: {kind: wait, question: 'Go?'}\n  one: {kind: flow, flow: child.yaml, inputs: {text: doc}, needs: [go]}\noutput: ${{ steps.one.output }}\n",
		"child.yaml": summariseFlow,
	})
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	if err := os.Remove(filepath.Join(dir, "child.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "go", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if run.Output != "sum of doc" {
		t.Fatalf("output %v", run.Output)
	}
}
