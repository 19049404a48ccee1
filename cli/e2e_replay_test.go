package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An answer recorded with --no-resume, then a replay of the run: the
// replay reuses the answer and goes on, instead of asking again.
func TestE2EReplayOfAnsweredWait(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("wait.yaml", waitFlow)
	e.must(3, "run", flow, "--quiet")
	e.must(3, "input", "last", "approve", "--value", "true", "--no-resume") // still waiting

	rep := decodeRun(t, e.must(0, "replay", "last", "--json", "--quiet").Stdout)
	if a := stepOf(t, rep, "approve"); !a.Reused || a.Output != true {
		t.Errorf("the replay's approve is %s (reused %v, reason %q): the answered question was asked again", a.Status, a.Reused, a.Reason)
	}
	if rep.Output != "shipped" || e.count("ship.done") != 1 || e.count("prep.done") != 1 {
		t.Errorf("replay output %v; prep ran %d times, ship %d; want shipped, 1, 1", rep.Output, e.count("prep.done"), e.count("ship.done"))
	}
}

// After `kitaru model register` moves an alias to another model, a replay
// runs the llm steps that use it again and says why; a replay after that,
// with nothing changed, calls no model.
func TestE2EReplayFollowsARegisteredAlias(t *testing.T) {
	t.Parallel()
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("llm.yaml", strings.Replace(twoLLMFlow, "output:", `  tally:
    kind: checkpoint
    run: echo x >> @D@/tally.done
output:`, 1))
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini")
	e.must(0, "run", flow, "--quiet")
	requests := func() int { reqs, _ := srv.snapshot(); return len(reqs) }

	// Nothing changed: nothing is paid for again.
	e.must(0, "replay", "last", "--quiet")
	if n := requests(); n != 2 {
		t.Fatalf("a replay with nothing changed sent %d requests, want none", n-2)
	}

	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4.1")
	r := e.must(0, "replay", "last")
	const why = "model changed: alias fast now resolves to openai/gpt-4.1, was openai/gpt-4o-mini"
	if !strings.Contains(r.Stderr, why) {
		t.Errorf("the replay's progress does not say why outline ran again:\n%s", r.Stderr)
	}
	rec := e.record("last")
	if s := stepOf(t, rec, "outline"); s.Reused || s.Model != "openai/gpt-4.1" || s.Reason != why {
		t.Errorf("outline: reused %v, model %q, reason %q", s.Reused, s.Model, s.Reason)
	}
	if s := stepOf(t, rec, "tally"); !s.Reused || e.count("tally.done") != 1 {
		t.Errorf("tally: reused %v, ran %d times", s.Reused, e.count("tally.done"))
	}
	if reqs, _ := srv.snapshot(); len(reqs) != 4 || reqs[2].Model != "gpt-4.1" {
		t.Errorf("after the alias moved the replay sent %d requests, want 2 to gpt-4.1", len(reqs)-2)
	}
	if get := e.must(0, "executions", "get", "last"); !strings.Contains(get.Stdout, why) {
		t.Errorf("executions get does not say why outline ran again:\n%s", get.Stdout)
	}

	e.must(0, "replay", "last", "--quiet")
	if n := requests(); n != 4 {
		t.Errorf("a replay of the replay sent %d requests, want none", n-4)
	}
}

// replay --flow EDITED --from S reuses the steps upstream of S even where
// the edited file changed them, and says so.
func TestE2EReplayFromNamesEditedUpstreamSteps(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("replay.yaml", replayFlow)
	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	edited := e.flow("edited.yaml", strings.Replace(replayFlow, `"notes on `, `"new notes on `, 1))

	r := e.must(0, "replay", first.ID, "--flow", edited, "--from", "draft")
	why := "reused from " + first.ID + ": not downstream of --from draft, though its definition changed in the edited flow"
	if !strings.Contains(r.Stderr, "research reused from "+first.ID+": not downstream of --from draft, though its definition changed in the edited flow") {
		t.Errorf("the replay's progress does not say research changed:\n%s", r.Stderr)
	}
	rec := e.record("last")
	if s := stepOf(t, rec, "research"); !s.Reused || s.Reason != why {
		t.Errorf("research: reused %v, reason %q, want %q", s.Reused, s.Reason, why)
	}
	if s := stepOf(t, rec, "side"); strings.Contains(s.Reason, "though") {
		t.Errorf("side did not change, but its reason is %q", s.Reason)
	}
	if rec.Output != "draft from notes on cats + side x" || e.count("research.done") != 1 {
		t.Errorf("output %v, research ran %d times", rec.Output, e.count("research.done"))
	}
	if get := e.must(0, "executions", "get", "last"); !strings.Contains(get.Stdout, why) {
		t.Errorf("executions get does not say research changed:\n%s", get.Stdout)
	}
}

// in runs kitaru to the end in dir.
func (e *e2e) in(dir string, code int, args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	cmd.Dir = dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
	if err != nil && cmd.ProcessState == nil {
		e.t.Fatalf("kitaru %s: %v", strings.Join(args, " "), err)
	}
	if r.Code != code {
		e.t.Fatalf("kitaru %s in %s: want exit %d, got %s", strings.Join(args, " "), dir, code, r)
	}
	return r
}

func (e *e2e) mkdir(name string) string {
	e.t.Helper()
	p := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(p, 0o700); err != nil {
		e.t.Fatal(err)
	}
	return p
}

const workDirFlow = `name: here
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
    run: test -f @D@/ok && pwd
  gate:
    kind: wait
    question: go on?
    needs: [flaky]
  after:
    kind: checkpoint
    needs: [gate]
    run: pwd
`

// Steps run in the flow file's directory wherever kitaru is started, and
// retry, resume and replay use the one the run recorded.
func TestE2EStepsRunInTheFlowFilesDirectory(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flows := e.mkdir("flows")
	e.mkdir("flows/sub")
	e.write("flows/data.txt", "beside the flow\n")
	e.flow("flows/here.yaml", workDirFlow)
	elsewhere, third := e.mkdir("elsewhere"), e.mkdir("third")

	rec := decodeRun(t, e.in(elsewhere, 1, "run", "../flows/here.yaml", "--json", "--quiet").Stdout)
	if rec.WorkDir != flows {
		t.Errorf("work_dir %q, want %q", rec.WorkDir, flows)
	}
	for id, want := range map[string]string{"where": flows, "env": flows, "read": "beside the flow", "sub": filepath.Join(flows, "sub")} {
		if got := stepOf(t, rec, id).Output; got != want {
			t.Errorf("step %s printed %v, want %q", id, got, want)
		}
	}

	e.write("ok", "")
	rec = decodeRun(t, e.in(third, 3, "retry", "last", "--json", "--quiet").Stdout)
	if got := stepOf(t, rec, "flaky").Output; got != flows {
		t.Errorf("retried from %s, flaky printed %v, want %q", third, got, flows)
	}
	e.in(third, 3, "input", "last", "--value", "true", "--no-resume")
	rec = decodeRun(t, e.in(e.Dir, 0, "resume", "last", "--json", "--quiet").Stdout)
	if got := stepOf(t, rec, "after").Output; got != flows {
		t.Errorf("resumed from %s, after printed %v, want %q", e.Dir, got, flows)
	}

	rep := decodeRun(t, e.in(third, 0, "replay", "last", "--from", "where", "--json", "--quiet").Stdout)
	if got := stepOf(t, rep, "where").Output; got != flows || rep.WorkDir != flows {
		t.Errorf("replay: where printed %v, work_dir %q, want %q", got, rep.WorkDir, flows)
	}
	moved := e.flow("third/moved.yaml", workDirFlow)
	rep = decodeRun(t, e.in(elsewhere, 0, "replay", "last", "--flow", moved, "--from", "where", "--json", "--quiet").Stdout)
	if got := stepOf(t, rep, "where").Output; got != third || rep.WorkDir != third {
		t.Errorf("replay --flow %s: where printed %v, work_dir %q, want %q", moved, got, rep.WorkDir, third)
	}
}

// "-" reads the flow from stdin, as kubectl -f - does: its steps run in
// the current directory, errors name it <stdin> with line and column, and
// a replay started elsewhere uses the snapshot and the recorded directory.
func TestE2EFlowFromDash(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	here, elsewhere := e.mkdir("here"), e.mkdir("elsewhere")
	piped := func(dir, flow string, args ...string) result {
		t.Helper()
		cmd := e.command(args...)
		cmd.Dir, cmd.Stdin = dir, strings.NewReader(flow)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
	}
	const flow = "name: piped\nsteps:\n  where: {kind: checkpoint, run: pwd}\n"
	r := piped(here, flow, "run", "-", "--json", "--quiet")
	if r.Code != 0 {
		t.Fatalf("run -: %s", r)
	}
	rec := decodeRun(t, r.Stdout)
	if got := stepOf(t, rec, "where").Output; got != here || rec.WorkDir != here || rec.FlowFile != "<stdin>" {
		t.Errorf("where printed %v, work_dir %q, flow_file %q; want %q, %q, <stdin>", got, rec.WorkDir, rec.FlowFile, here, here)
	}
	rep := decodeRun(t, e.in(elsewhere, 0, "replay", "last", "--from", "where", "--json", "--quiet").Stdout)
	if got := stepOf(t, rep, "where").Output; got != here {
		t.Errorf("replay from %s: where printed %v, want %q", elsewhere, got, here)
	}

	const bad = "name: piped\nsteps:\n  where: {kind: checkpoint, run: pwd}\n  oops: {kind: bogus}\n"
	for _, args := range [][]string{{"run", "-"}, {"validate", "-"}, {"graph", "-"}} {
		r := piped(here, bad, args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "<stdin>:4:") || !strings.Contains(r.Stderr, `unknown kind "bogus"`) {
			t.Errorf("%s with a bad flow on stdin: %s", strings.Join(args, " "), r)
		}
	}
	if r := piped(here, flow, "validate", "-"); r.Code != 0 || r.Stdout != "<stdin>: ok (1 step)\n" {
		t.Errorf("validate -: %s", r)
	}
}

// A flow from stdin has no file: its steps run in the current directory,
// which the run records.
func TestE2EFlowFromStdinRunsInTheCurrentDirectory(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.write("pwd.yaml", "name: piped\nsteps:\n  where: {kind: checkpoint, run: pwd}\n")
	here := e.mkdir("here")
	cmd := exec.Command("sh", "-c", `"$0" run /dev/stdin --json --quiet < "$1"`, e.bin, flow)
	cmd.Env, cmd.Dir = e.Env, here
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rec := decodeRun(t, string(out))
	if got := stepOf(t, rec, "where").Output; got != here || rec.WorkDir != here {
		t.Errorf("where printed %v, work_dir %q, want %q", got, rec.WorkDir, here)
	}
}
