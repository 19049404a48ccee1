package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// requireEngine checks that this installation can read its (empty) run
// store before a test drives runs, so a broken set-up fails in one place.
func requireEngine(t *testing.T, e *e2e) {
	t.Helper()
	e.must(0, "executions", "list")
}

// flow writes a flow file whose text may name the work dir as @D@ (the
// counter files live there), and returns its path.
func (e *e2e) flow(name, text string) string {
	return e.write(name, strings.ReplaceAll(text, "@D@", e.Dir))
}

// record parses `executions get REF --json`.
func (e *e2e) record(ref string) *engine.Run {
	e.t.Helper()
	r := e.must(0, "executions", "get", ref, "--json")
	return decodeRun(e.t, r.Stdout)
}

func decodeRun(t testing.TB, s string) *engine.Run {
	t.Helper()
	var run engine.Run
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&run); err != nil {
		t.Fatalf("not a run record: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than the run record:\n%s", s)
	}
	return &run
}

// liveInGroup lists the processes of process group pgid that are not
// zombies (a killed process stays a zombie until its new parent reaps it).
func liveInGroup(pgid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		rest := string(b)
		if k := strings.LastIndexByte(rest, ')'); k >= 0 {
			rest = rest[k+1:]
		}
		f := strings.Fields(rest)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			live = append(live, strings.TrimSpace(string(b)))
		}
	}
	return live
}

// startUntil starts kitaru in the background and returns once the counter
// file has a line, i.e. the step that writes it is running.
func (e *e2e) startUntil(counter string, args ...string) (cmd *exec.Cmd, stdout, stderr *strings.Builder) {
	e.t.Helper()
	cmd = e.command(args...)
	stdout, stderr = &strings.Builder{}, &strings.Builder{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitFor(e.t, counter+" to be written", func() bool { return e.count(counter) > 0 })
	return cmd, stdout, stderr
}

// pid reads the process id a step's command wrote to a file of the work dir.
func (e *e2e) pid(name string) int {
	e.t.Helper()
	// The shell makes the file before it writes into it.
	var pid int
	waitFor(e.t, "a pid in "+name, func() bool {
		b, err := os.ReadFile(filepath.Join(e.Dir, name))
		n, aerr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || aerr != nil || n <= 0 || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid = n
		return true
	})
	return pid
}

// announcedID is the run id a run command prints first ("run kr-…").
func announcedID(t testing.TB, stdout string) string {
	t.Helper()
	f := strings.Fields(stdout)
	if len(f) < 2 || f[0] != "run" || !strings.HasPrefix(f[1], "kr-") {
		t.Fatalf("the run id is not the first thing printed:\n%s", stdout)
	}
	return f[1]
}

// printedOutput is what a run command printed after the run id: the
// run's output.
func printedOutput(t testing.TB, stdout string) string {
	t.Helper()
	announcedID(t, stdout)
	_, rest, _ := strings.Cut(stdout, "\n")
	return strings.TrimSpace(rest)
}

func stepOf(t testing.TB, run *engine.Run, id string) engine.StepResult {
	t.Helper()
	for _, s := range run.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run %s has no step %s", run.ID, id)
	return engine.StepResult{}
}

// journal reads the events of every run's journal (lines still being
// written are skipped).
func (e *e2e) journal() []engine.Event {
	files, _ := filepath.Glob(filepath.Join(e.Home, "runs", "*", "journal.jsonl"))
	var evs []engine.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			var ev engine.Event
			if json.Unmarshal([]byte(line), &ev) == nil {
				evs = append(evs, ev)
			}
		}
	}
	return evs
}

// journalHas reports whether some run's journal holds an event of type typ
// (for step, when step is not "").
func (e *e2e) journalHas(typ, step string) bool {
	for _, ev := range e.journal() {
		if string(ev.Type) == typ && (step == "" || ev.Step == step) {
			return true
		}
	}
	return false
}

// finishedItems are the indexes of the foreach items of step the journal
// records as finished.
func (e *e2e) finishedItems(step string) map[int]bool {
	done := map[int]bool{}
	for _, ev := range e.journal() {
		if ev.Type == engine.EventItemFinished && ev.Step == step && ev.Item != nil {
			done[*ev.Item] = true
		}
	}
	return done
}

// A chain a → b → c of shell steps. Each appends to <step>.start when it
// begins and to <step>.done when it finishes, and sleeps in between so that
// a kill can land while it runs. A shell whose kitaru was killed (its parent
// changed) stops before marking itself done, as it would if the whole
// machine had crashed; otherwise orphans would blur the counts.
const chainFlow = `name: chain
steps:
  a:
    kind: checkpoint
    run: echo x >> @D@/a.start; sleep 0.3; @ALIVE@ && echo x >> @D@/a.done; echo A
  b:
    kind: checkpoint
    run: echo x >> @D@/b.start; sleep 0.3; @ALIVE@ && echo x >> @D@/b.done; echo "${{ steps.a.output }}B"
  c:
    kind: checkpoint
    run: echo x >> @D@/c.start; sleep 0.3; @ALIVE@ && echo x >> @D@/c.done; echo "${{ steps.b.output }}C"
output: ${{ steps.c.output }}
`

// parentAlive is true in a step's shell while its parent is a kitaru (field
// 4 of /proc/PID/stat is the current parent; an orphan's is init or a
// subreaper). $PPID would not do: a shell forked just before the kill
// starts with init as its parent already.
const parentAlive = `[ "$(cat /proc/$(cut -d' ' -f4 /proc/$$/stat)/comm)" = kitaru ]`

func TestE2ESigkillThenResumeRunsEachFinishedStepOnce(t *testing.T) {
	points := []struct {
		name      string
		typ, step string
	}{
		{"right after the run is recorded", "run_started", ""},
		{"while a runs", "step_started", "a"},
		{"while b runs", "step_started", "b"},
		{"right after b's record", "step_finished", "b"},
		{"while the last step runs", "step_started", "c"},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			if _, err := os.Stat("/proc/self/stat"); err != nil {
				t.Skip("needs /proc to tell orphaned step shells")
			}
			flow := e.flow("chain.yaml", strings.ReplaceAll(chainFlow, "@ALIVE@", parentAlive))
			cmd := e.command("run", flow, "--quiet")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			waitFor(t, p.typ+" "+p.step+" in the journal", func() bool {
				select {
				case <-exited:
					t.Fatalf("kitaru run ended before the kill point")
				default:
				}
				return e.journalHas(p.typ, p.step)
			})
			finishedBefore := map[string]bool{}
			for _, s := range []string{"a", "b", "c"} {
				finishedBefore[s] = e.journalHas("step_finished", s)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-exited
			// Step records are written only once a step's output is known.
			for s, done := range finishedBefore {
				if done && e.count(s+".done") != 1 {
					t.Fatalf("step %s finished before the kill but ran %d times", s, e.count(s+".done"))
				}
			}

			if got := e.record("last").Status; got != engine.RunInterrupted {
				t.Errorf("after kill -9 the run reads %s, want interrupted", got)
			}
			r := e.must(0, "resume", "last", "--quiet")
			if printedOutput(t, r.Stdout) != "ABC" {
				t.Errorf("resume printed %q, want ABC", r.Stdout)
			}
			for _, s := range []string{"a", "b", "c"} {
				if n := e.count(s + ".done"); n != 1 {
					t.Errorf("step %s completed %d times in all, want exactly 1", s, n)
				}
				if finishedBefore[s] && e.count(s+".start") != 1 {
					t.Errorf("step %s finished before the kill but resume started it again", s)
				}
			}
			run := e.record("last")
			if run.Status != engine.RunCompleted || run.Output != "ABC" {
				t.Errorf("final record: status %s output %v", run.Status, run.Output)
			}
		})
	}
}

const replayFlow = `name: replayer
inputs:
  topic: {type: string, default: cats}
  other: {type: string, default: x}
steps:
  research:
    kind: checkpoint
    run: echo x >> @D@/research.done; echo "notes on ${{ inputs.topic }}"
  side:
    kind: checkpoint
    run: echo x >> @D@/side.done; echo "side ${{ inputs.other }}"
  draft:
    kind: checkpoint
    run: echo x >> @D@/draft.done; echo "draft from ${{ steps.research.output }}"
  final:
    kind: checkpoint
    run: echo x >> @D@/final.done; echo "${{ steps.draft.output }} + ${{ steps.side.output }}"
output: ${{ steps.final.output }}
`

func TestE2EReplay(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("replay.yaml", replayFlow)
	steps := []string{"research", "side", "draft", "final"}
	counts := func() map[string]int {
		m := map[string]int{}
		for _, s := range steps {
			m[s] = e.count(s + ".done")
		}
		return m
	}
	// expectRan checks which steps ran since before, and the reused flags
	// of the replay's record.
	expectRan := func(t *testing.T, before map[string]int, runID string, ran ...string) {
		t.Helper()
		after := counts()
		rec := e.record(runID)
		for _, s := range steps {
			want := 0
			for _, r := range ran {
				if r == s {
					want = 1
				}
			}
			if after[s]-before[s] != want {
				t.Errorf("step %s ran %d times, want %d", s, after[s]-before[s], want)
			}
			if st := stepOf(t, rec, s); st.Reused != (want == 0) {
				t.Errorf("step %s: reused=%v, want %v (reason %q)", s, st.Reused, want == 0, st.Reason)
			}
		}
	}

	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	if first.Output != "draft from notes on cats + side x" {
		t.Fatalf("first run output %v", first.Output)
	}
	for s, n := range counts() {
		if n != 1 {
			t.Fatalf("step %s ran %d times in the first run", s, n)
		}
	}

	t.Run("from", func(t *testing.T) {
		before := counts()
		rec := decodeRun(t, e.must(0, "replay", first.ID, "--from", "draft", "--json", "--quiet").Stdout)
		if rec.ReplayOf == nil || *rec.ReplayOf != first.ID || rec.ID == first.ID {
			t.Errorf("replay_of %v, id %s (source %s)", rec.ReplayOf, rec.ID, first.ID)
		}
		expectRan(t, before, rec.ID, "draft", "final")
		if r := e.must(0, "executions", "get", rec.ID); !strings.Contains(r.Stdout, "reused") {
			t.Errorf("executions get of a replay does not say what was reused:\n%s", r.Stdout)
		}
	})
	t.Run("override", func(t *testing.T) {
		before := counts()
		rec := decodeRun(t, e.must(0, "replay", first.ID, "--override", "research=Edited notes", "--json", "--quiet").Stdout)
		if rec.Output != "draft from Edited notes + side x" {
			t.Errorf("output %v", rec.Output)
		}
		after := counts()
		for s, want := range map[string]int{"research": 0, "side": 0, "draft": 1, "final": 1} {
			if after[s]-before[s] != want {
				t.Errorf("step %s ran %d times, want %d", s, after[s]-before[s], want)
			}
		}
	})
	t.Run("kitaru spelling of overrides", func(t *testing.T) {
		before := counts()
		rec := decodeRun(t, e.must(0, "executions", "replay", first.ID, "--from", "draft",
			"--overrides", `{"checkpoint.research": "python notes"}`, "--json", "--quiet").Stdout)
		if rec.Output != "draft from python notes + side x" {
			t.Errorf("output %v", rec.Output)
		}
		if after := counts(); after["research"] != before["research"] || after["draft"] != before["draft"]+1 {
			t.Errorf("counts before %v after %v", before, after)
		}
	})
	t.Run("new input", func(t *testing.T) {
		before := counts()
		rec := decodeRun(t, e.must(0, "replay", first.ID, "--input", "other=y", "--json", "--quiet").Stdout)
		if rec.Output != "draft from notes on cats + side y" {
			t.Errorf("output %v", rec.Output)
		}
		expectRan(t, before, rec.ID, "side", "final")
	})
	t.Run("edited flow", func(t *testing.T) {
		edited := e.write("replay-edited.yaml", strings.Replace(
			strings.ReplaceAll(replayFlow, "@D@", e.Dir), `"draft from `, `"new draft from `, 1))
		before := counts()
		rec := decodeRun(t, e.must(0, "replay", first.ID, "--flow", edited, "--json", "--quiet").Stdout)
		if rec.Output != "new draft from notes on cats + side x" {
			t.Errorf("output %v", rec.Output)
		}
		expectRan(t, before, rec.ID, "draft", "final")
	})
	t.Run("unknown step", func(t *testing.T) {
		r := e.must(2, "replay", first.ID, "--from", "drafts")
		if !strings.Contains(r.Stderr, "draft") {
			t.Errorf("an unknown --from does not list the steps:\n%s", r.Stderr)
		}
	})
}

func TestE2EParallelStepsOverlap(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("par.yaml", `name: par
steps:
  one:   {kind: checkpoint, run: sleep 0.5; echo 1}
  two:   {kind: checkpoint, run: sleep 0.5; echo 2}
  three: {kind: checkpoint, run: sleep 0.5; echo 3}
`)
	rec := decodeRun(t, e.must(0, "run", flow, "--parallel", "3", "--json", "--quiet").Stdout)
	var latestStart, earliestEnd time.Time
	for _, s := range rec.Steps {
		if s.StartedAt == nil || s.EndedAt == nil {
			t.Fatalf("step %s has no recorded times", s.ID)
		}
		if s.StartedAt.After(latestStart) {
			latestStart = *s.StartedAt
		}
		if earliestEnd.IsZero() || s.EndedAt.Before(earliestEnd) {
			earliestEnd = *s.EndedAt
		}
	}
	if !latestStart.Before(earliestEnd) {
		t.Errorf("independent steps did not overlap: the last started at %s, the first ended at %s", latestStart, earliestEnd)
	}

	// With --parallel 1 the same steps must not overlap.
	rec = decodeRun(t, e.must(0, "run", flow, "--parallel", "1", "--json", "--quiet").Stdout)
	for i, a := range rec.Steps {
		for _, b := range rec.Steps[i+1:] {
			if a.StartedAt.Before(*b.EndedAt) && b.StartedAt.Before(*a.EndedAt) {
				t.Errorf("with --parallel 1 steps %s and %s overlapped", a.ID, b.ID)
			}
		}
	}
}

const waitFlow = `name: approval
steps:
  prep:
    kind: checkpoint
    run: echo x >> @D@/prep.done; echo ready
  approve:
    kind: wait
    needs: [prep]
    question: Ship it?
    schema: {type: boolean}
  ship:
    kind: checkpoint
    if: steps.approve.output == true
    run: echo x >> @D@/ship.done; echo shipped
output: ${{ steps.ship.output }}
`

func TestE2EWaitInputAndAbort(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("wait.yaml", waitFlow)

	r := e.must(3, "run", flow)
	id := announcedID(t, r.Stdout)
	if !strings.Contains(r.Stderr, "kitaru input "+id+" approve --value true") || !strings.Contains(r.Stderr, "Ship it?") {
		t.Errorf("a waiting run does not say how to answer:\n%s", r.Stderr)
	}

	bad := e.must(2, "input", id, "approve", "--value", `"maybe"`)
	if !strings.Contains(strings.ToLower(bad.Stderr), "boolean") {
		t.Errorf("a refused answer does not say why:\n%s", bad.Stderr)
	}
	if st := e.record(id).Status; st != engine.RunWaiting {
		t.Errorf("after a refused answer the run is %s, want waiting", st)
	}

	good := e.must(0, "input", id, "--value", "true", "--quiet")
	if printedOutput(t, good.Stdout) != "shipped" {
		t.Errorf("answered run printed %q", good.Stdout)
	}
	if e.count("prep.done") != 1 || e.count("ship.done") != 1 {
		t.Errorf("prep ran %d times, ship %d; want 1 and 1", e.count("prep.done"), e.count("ship.done"))
	}
	if rec := e.record(id); rec.Status != engine.RunCompleted || stepOf(t, rec, "approve").Output != true {
		t.Errorf("record after the answer: %s, approve=%v", rec.Status, stepOf(t, rec, "approve").Output)
	}

	e.must(3, "run", flow, "--quiet")
	e.must(0, "input", "last", "--abort")
	if st := e.record("last").Status; st != engine.RunCancelled {
		t.Errorf("after --abort the run is %s, want cancelled", st)
	}
	if e.count("ship.done") != 1 {
		t.Errorf("an aborted run shipped")
	}
}

func TestE2EFailedThenRetryInPlace(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("flaky.yaml", `name: flaky
steps:
  solid:
    kind: checkpoint
    run: echo x >> @D@/solid.done; echo solid
  flaky:
    kind: checkpoint
    run: echo x >> @D@/flaky.start; test -f @D@/fixed || { echo "the thing is not fixed" >&2; exit 4; }; echo fine
  after:
    kind: checkpoint
    run: echo x >> @D@/after.done; echo "${{ steps.flaky.output }} ${{ steps.solid.output }}"
output: ${{ steps.after.output }}
`)
	r := e.must(1, "run", flow)
	id := announcedID(t, r.Stdout)
	if !strings.Contains(r.Stderr, "kitaru retry "+id) || !strings.Contains(r.Stderr, "the thing is not fixed") {
		t.Errorf("a failed run does not give the error and the retry command:\n%s", r.Stderr)
	}
	rec := e.record(id)
	// What follows the failure is skipped, not left pending.
	if rec.Status != engine.RunFailed || stepOf(t, rec, "after").Status != engine.StepSkipped {
		t.Errorf("failed run: %s, after=%s", rec.Status, stepOf(t, rec, "after").Status)
	}

	logs := e.must(0, "executions", "logs", id, "--step", "flaky")
	if !strings.Contains(logs.Stdout, "the thing is not fixed") {
		t.Errorf("executions logs --step flaky lacks the step's stderr:\n%s", logs)
	}

	e.write("fixed", "")
	out := decodeRun(t, e.must(0, "retry", id, "--json", "--quiet").Stdout)
	if out.ID != id || out.Output != "fine solid" {
		t.Errorf("retry made run %s with output %v; want %s in place", out.ID, out.Output, id)
	}
	if e.count("solid.done") != 1 || e.count("flaky.start") != 2 || e.count("after.done") != 1 {
		t.Errorf("runs: solid %d flaky %d after %d; want 1, 2, 1",
			e.count("solid.done"), e.count("flaky.start"), e.count("after.done"))
	}
}

func TestE2ESignalInterruptsThenResume(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			flow := e.flow("slow.yaml", `name: slow
steps:
  quick:
    kind: checkpoint
    run: echo x >> @D@/quick.done; echo q
  slow:
    kind: checkpoint
    needs: [quick]
    run: echo $$ > @D@/slow.pid; echo x >> @D@/slow.start; if [ -f @D@/go ]; then echo s; else sleep 60; fi
`)
			cmd, out, errb := e.startUntil("slow.start", "run", flow)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
				t.Fatalf("after %v: exit %d, want 130\n%s\n%s", sig, code, out.String(), errb.String())
			}
			// The in-flight step was stopped: its shell's process group
			// (the shell and its sleep) is gone.
			pgid := e.pid("slow.pid")
			if live := liveInGroup(pgid); len(live) > 0 {
				t.Errorf("the interrupted step's processes are still running: %q", live)
				killGroup(pgid)
			}
			id := announcedID(t, out.String())
			if !strings.Contains(errb.String(), "kitaru resume "+id) {
				t.Errorf("an interrupted run does not say how to resume:\n%s", errb.String())
			}
			if st := e.record(id).Status; st != engine.RunInterrupted {
				t.Errorf("after %v the run is %s, want interrupted", sig, st)
			}
			e.write("go", "")
			e.must(0, "resume", id, "--quiet")
			if e.count("quick.done") != 1 {
				t.Errorf("quick ran %d times, want 1", e.count("quick.done"))
			}
		})
	}
}

func TestE2ECancelFromAnotherProcess(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("long.yaml", `name: long
steps:
  first:
    kind: checkpoint
    run: echo x >> @D@/first.start; sleep 1; echo one
  second:
    kind: checkpoint
    needs: [first]
    run: echo x >> @D@/second.start; echo two
`)
	cmd, _, _ := e.startUntil("first.start", "run", flow, "--quiet")
	e.must(0, "executions", "cancel", "last")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitRunFailed {
		t.Errorf("a run cancelled from elsewhere exited %d, want 1", code)
	}
	if st := e.record("last").Status; st != engine.RunCancelled {
		t.Errorf("after executions cancel the run is %s, want cancelled", st)
	}
	if e.count("second.start") != 0 {
		t.Errorf("a cancelled run went on to the next step")
	}
}

func TestE2ELogsFollowEndsWithTheRun(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("talk.yaml", `name: talk
steps:
  talk:
    kind: checkpoint
    run: echo first line; echo x >> @D@/talk.start; sleep 0.5; echo second line >&2; echo done
`)
	cmd, _, _ := e.startUntil("talk.start", "run", flow, "--quiet")
	r := e.must(0, "executions", "logs", "last", "--follow")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	for _, want := range []string{"first line", "second line"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("logs --follow lacks %q:\n%s", want, r)
		}
	}
	js := e.must(0, "executions", "logs", "last", "--step", "talk", "--json")
	for _, line := range strings.Split(strings.TrimSpace(js.Stdout), "\n") {
		var l engine.LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Step != "talk" {
			t.Errorf("logs --json line %q: %v", line, err)
		}
	}
}

// Each foreach item is its own durable unit: after a kill -9 part-way
// through, resume runs only the items that had not finished.
func TestE2ESigkillDuringForeachRedoesOnlyUnfinishedItems(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to tell orphaned step shells")
	}
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("fan.yaml", strings.ReplaceAll(`name: fan
inputs:
  n: {type: list, default: [1, 2, 3, 4, 5]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.n
    run: echo x >> @D@/item${{ item }}.start; sleep 0.2; @ALIVE@ && echo x >> @D@/item${{ item }}.done; echo ${{ item }}
  sum:
    kind: checkpoint
    value: '${{ join(steps.each.output, "+") }}'
output: ${{ steps.sum.output }}
`, "@ALIVE@", parentAlive))
	cmd := e.command("run", flow, "--quiet", "--parallel", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two items to be recorded", func() bool { return len(e.finishedItems("each")) >= 2 })
	cmd.Process.Kill()
	cmd.Wait()
	recorded := e.finishedItems("each")
	if len(recorded) == 5 {
		t.Fatal("the kill landed after every item finished; nothing left to test")
	}

	r := e.must(0, "resume", "last", "--quiet")
	if printedOutput(t, r.Stdout) != "1+2+3+4+5" {
		t.Errorf("resumed output %q", r.Stdout)
	}
	for i := 1; i <= 5; i++ {
		if n := e.count(fmt.Sprintf("item%d.done", i)); n != 1 {
			t.Errorf("item %d completed %d times, want exactly 1", i, n)
		}
		if n := e.count(fmt.Sprintf("item%d.start", i)); recorded[i-1] && n != 1 {
			t.Errorf("item %d was recorded before the kill but started %d times", i, n)
		}
	}
}

// Progress on a pipe is plain lines: no escape codes even when colours are
// not turned off, and the run id comes first on stdout.
func TestE2EPlainProgressOnPipes(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	for i, kv := range e.Env {
		if strings.HasPrefix(kv, "NO_COLOR=") {
			e.Env = append(e.Env[:i:i], e.Env[i+1:]...)
			break
		}
	}
	e.setenv("TERM", "xterm-256color")
	flow := e.flow("plain.yaml", `name: plain
steps:
  a: {kind: checkpoint, run: echo hello}
output: ${{ steps.a.output }}
`)
	r := e.must(0, "run", flow)
	if strings.Contains(r.Stdout+r.Stderr, "\x1b[") {
		t.Errorf("escape codes on a pipe:\n%q", r.Stderr)
	}
	if id := announcedID(t, r.Stdout); !strings.HasSuffix(r.Stdout, "hello\n") || !strings.Contains(r.Stderr, id) {
		t.Errorf("want the id, then the output on stdout, progress on stderr:\n%s", r)
	}
	q := e.must(0, "run", flow, "--quiet")
	if q.Stderr != "" {
		t.Errorf("--quiet still printed progress:\n%s", q.Stderr)
	}
}

// A run is held by one process: a resume while it runs is refused with a
// usage error that says who holds it.
func TestE2EResumeOfARunningRunIsRefused(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("held.yaml", `name: held
steps:
  wait_for_go:
    kind: checkpoint
    run: echo x >> @D@/held.start; while [ ! -f @D@/go ]; do sleep 0.05; done; echo done
`)
	cmd, _, _ := e.startUntil("held.start", "run", flow, "--quiet")
	r := e.must(2, "resume", "last")
	if !strings.Contains(r.Stderr, strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("the refusal does not name the holding process %d:\n%s", cmd.Process.Pid, r.Stderr)
	}
	e.write("go", "")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the held run failed: %v", err)
	}
	if e.count("held.start") != 1 {
		t.Errorf("the step started %d times", e.count("held.start"))
	}
}
