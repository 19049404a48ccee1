package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// Commands run in the flow file's directory, a relative dir: is relative
// to it, and resume, retry and replay use the directory the run recorded.
func TestStepsRunInTheFlowFilesDirectory(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	dir := t.TempDir()
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // what pwd prints
	}
	for name, text := range map[string]string{"data.txt": "beside the flow\n", "sub/x": ""} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flow := filepath.Join(dir, "flow.yaml")
	src := strings.ReplaceAll(`
name: here
steps:
  where:
    kind: checkpoint
    run: pwd
  env:
    kind: checkpoint
    run: echo "$PWD"
  read:
    kind: checkpoint
    run: cat data.txt
  sub:
    kind: checkpoint
    dir: sub
    run: pwd
  flaky:
    kind: checkpoint
    run: test -f COUNTER/ok && pwd
  gate:
    kind: wait
    question: go?
    needs: [flaky]
  after:
    kind: checkpoint
    needs: [gate]
    run: pwd
`, "COUNTER", te.counter)
	if err := os.WriteFile(flow, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := flowspec.Load(flow, flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	if run.WorkDir != dir {
		t.Errorf("work_dir %q, want %q", run.WorkDir, dir)
	}
	want := map[string]any{"where": dir, "env": dir, "read": "beside the flow", "sub": filepath.Join(dir, "sub")}
	for id, out := range want {
		if got := step(t, run, id).Output; got != out {
			t.Errorf("step %s printed %q, want %q", id, got, out)
		}
	}

	if err := os.WriteFile(filepath.Join(te.counter, "ok"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Retry(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if got := step(t, run, "flaky").Output; got != dir {
		t.Errorf("retried flaky printed %q, want %q", got, dir)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if got := step(t, run, "after").Output; got != dir {
		t.Errorf("after the resume, after printed %q, want %q", got, dir)
	}

	// A replay from the snapshot keeps the directory; one of an edited
	// file elsewhere takes that file's.
	rep, err := te.eng.Replay(t.Context(), ReplayOptions{Source: run.ID, From: "where"})
	if err != nil {
		t.Fatal(err)
	}
	if got := step(t, rep, "where").Output; got != dir || rep.WorkDir != dir {
		t.Errorf("replay: where printed %q, work_dir %q, want %q", got, rep.WorkDir, dir)
	}
	other := t.TempDir()
	if real, err := filepath.EvalSymlinks(other); err == nil {
		other = real
	}
	moved := filepath.Join(other, "flow.yaml")
	if err := os.WriteFile(moved, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	edited, err := flowspec.Load(moved, flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = te.eng.Replay(t.Context(), ReplayOptions{Source: run.ID, From: "where", Flow: edited})
	if err != nil {
		t.Fatal(err)
	}
	if got := step(t, rep, "where").Output; got != other || rep.WorkDir != other {
		t.Errorf("replay --flow: where printed %q, work_dir %q, want %q", got, rep.WorkDir, other)
	}
}

// A flow with no file runs in the current directory and records it; a
// run recorded before the directory was kept runs in the current one.
func TestWorkDirWithoutAFlowFile(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	f := te.flow(`
name: nofile
steps:
  where: {kind: checkpoint, run: pwd}
  gate: {kind: wait, question: "go?", needs: [where]}
  after: {kind: checkpoint, needs: [gate], run: pwd}
`)
	run := te.start(f, nil)
	if run.WorkDir != wd || step(t, run, "where").Output != wd {
		t.Errorf("work_dir %q, where printed %q, want %q", run.WorkDir, step(t, run, "where").Output, wd)
	}
	meta, err := te.store.LoadMeta(bg, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	meta.WorkDir = "" // as an earlier version wrote it
	if err := te.store.SaveMeta(bg, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if got := step(t, run, "after").Output; got != wd {
		t.Errorf("an old run resumed ran in %q, want the current directory %q", got, wd)
	}
}

// A recorded directory that is gone fails the step with what to do.
func TestWorkDirGone(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(flow, []byte("name: gone\nsteps:\n  gate: {kind: wait, question: \"go?\"}\n  after: {kind: checkpoint, needs: [gate], run: pwd}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := flowspec.Load(flow, flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := te.start(f, nil)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := te.eng.Answer(t.Context(), run.ID, "", json.RawMessage(`true`)); err != nil {
		t.Fatal(err)
	}
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunFailed)
	if e := step(t, run, "after").Error; e == nil || !strings.Contains(*e, "working directory "+f.Dir) ||
		step(t, run, "after").Remedy == nil || *step(t, run, "after").Remedy != (runstore.Remedy{Do: runstore.RemedyReplayNewFlow, Run: run.ID}) {
		t.Errorf("error %s", fmtErr(e))
	}
}

func fmtErr(e *string) string {
	if e == nil {
		return "<none>"
	}
	return *e
}

// A dir: that does not exist is named as such (the start's own error
// names the shell).
func TestMissingDirIsNamed(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	missing := filepath.Join(te.counter, "nowhere")
	run := te.start(te.flow("name: nodir\nsteps:\n  a: {kind: checkpoint, dir: "+missing+", run: pwd}\n"), nil)
	if e := fmtErr(step(t, run, "a").Error); e != "the command could not start: its dir: "+missing+" does not exist" {
		t.Errorf("error %s", e)
	}
}
