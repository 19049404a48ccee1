package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

func TestRunSimpleChain(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: chain
inputs:
  who: {type: string, default: world}
steps:
  a:
    kind: checkpoint
    run: echo a >> COUNTER/a; echo "hello ${{ inputs.who }}"
  b:
    kind: checkpoint
    value: '${{ steps.a.output + "!" }}'
  c:
    kind: llm
    model: fast
    prompt: say ${{ steps.b.output }}
output: ${{ steps.c.output }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if run.Output != "answer to: say hello world!" {
		t.Fatalf("output %#v", run.Output)
	}
	if te.count("a") != 1 {
		t.Fatalf("a ran %d times", te.count("a"))
	}
	c := step(t, run, "c")
	if c.Model != "fake/model" || c.Usage.InputTokens != 10 || c.CostUSD == nil || run.CostUSD != 0.5 {
		t.Fatalf("llm step record %+v, run cost %v", c, run.CostUSD)
	}
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, RunCompleted)
	if step(t, got, "b").Output != "hello world!" || got.Output != run.Output {
		t.Fatalf("get: %+v", got)
	}
}

func TestSchedulerSkipsAndFailures(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: sched
inputs:
  go: {type: boolean, default: false}
steps:
  gate:
    kind: checkpoint
    if: inputs.go
    value: yes
  after_gate:
    kind: checkpoint
    value: ${{ steps.gate.output }}
  checks_gate:
    kind: checkpoint
    if: steps.gate.status == "skipped"
    value: gate was skipped
  boom:
    kind: checkpoint
    run: echo one >&2; echo two >&2; exit 3
  after_boom:
    kind: checkpoint
    run: echo x >> COUNTER/after_boom
    needs: [boom]
  independent:
    kind: checkpoint
    run: echo x >> COUNTER/independent
  after_independent:
    kind: checkpoint
    value: ${{ steps.independent.output }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	tests := []struct {
		id   string
		want StepStatus
	}{
		{"gate", StepSkipped},
		{"after_gate", StepSkipped},
		{"checks_gate", StepCompleted},
		{"boom", StepFailed},
		{"after_boom", StepSkipped}, // success() implied: no step is left pending
		{"independent", StepCompleted},
		{"after_independent", StepCompleted},
	}
	for _, tt := range tests {
		if got := step(t, run, tt.id).Status; got != tt.want {
			t.Errorf("step %s is %s, want %s", tt.id, got, tt.want)
		}
	}
	boom := step(t, run, "boom")
	if boom.Error == nil || !strings.Contains(*boom.Error, "exited with status 3") || !strings.Contains(*boom.Error, "one\n  two") {
		t.Errorf("boom error %v; want the exit status and the stderr tail", boom.Error)
	}
	// The run's error is the failed step's; its ending names the step.
	if run.Ending == nil || !reflect.DeepEqual(*run.Ending, Ending{Code: runstore.EndStepFailed, Step: "boom"}) ||
		run.Error == nil || boom.Error == nil || *run.Error != *boom.Error {
		t.Errorf("run ending %+v, error %v", run.Ending, deref(run.Error))
	}
	if why := step(t, run, "after_boom").Why; why == nil || *why != (Reason{Code: runstore.ReasonDependencyFailed, Step: "boom"}) {
		t.Errorf("after_boom skipped because %+v, want boom's failure", why)
	}
	if te.count("after_boom") != 0 || te.count("independent") != 1 {
		t.Errorf("after_boom ran %d times, independent %d", te.count("after_boom"), te.count("independent"))
	}
}

func TestRetryInPlace(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: retry_in_place
steps:
  first:
    kind: checkpoint
    run: echo x >> COUNTER/first; echo first
  flaky:
    kind: checkpoint
    run: echo x >> COUNTER/flaky; test -f COUNTER/fixed && echo ok
    needs: [first]
  last:
    kind: checkpoint
    run: echo x >> COUNTER/last; echo ${{ steps.flaky.output }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	if _, err := te.eng.Resume(t.Context(), run.ID, 0); runstore.RemedyOf(err) == nil || *runstore.RemedyOf(err) != (runstore.Remedy{Do: runstore.RemedyRetry, Run: run.ID}) {
		t.Fatalf("resume of a failed run: %v", err)
	}
	if err := os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := te.eng.Retry(t.Context(), run.ID[:6], 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, again, RunCompleted)
	if again.ID != run.ID || step(t, again, "last").Output != "ok" {
		t.Fatalf("retry record %+v", again)
	}
	if te.count("first") != 1 || te.count("flaky") != 2 || te.count("last") != 1 {
		t.Fatalf("counts first=%d flaky=%d last=%d; want 1 2 1", te.count("first"), te.count("flaky"), te.count("last"))
	}
	if _, err := te.eng.Retry(t.Context(), run.ID, 0); err == nil {
		t.Fatal("retry of a completed run was accepted")
	}
}

func TestParallelStepsOverlap(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: par
steps:
  a: {kind: checkpoint, run: sleep 0.3}
  b: {kind: checkpoint, run: sleep 0.3}
  c: {kind: checkpoint, run: sleep 0.3}
  join:
    kind: checkpoint
    value: done
    needs: [a, b, c]
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	// Every pair of independent steps overlaps in time: each started before
	// the other ended. (Recorded times, not wall-clock assertions.)
	ids := []string{"a", "b", "c"}
	for _, x := range ids {
		for _, y := range ids {
			sx, sy := step(t, run, x), step(t, run, y)
			if x != y && !sx.StartedAt.Before(*sy.EndedAt) {
				t.Errorf("%s started %v, after %s ended %v", x, sx.StartedAt, y, sy.EndedAt)
			}
		}
	}
	j := step(t, run, "join")
	for _, x := range ids {
		if j.StartedAt.Before(*step(t, run, x).EndedAt) {
			t.Errorf("join started before %s ended", x)
		}
	}
	// With --parallel 1 they do not overlap.
	in, _ := f.BindInputs(nil)
	serial, err := te.eng.Start(t.Context(), StartOptions{Flow: f, Inputs: in, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ids {
		for _, y := range ids {
			sx, sy := step(t, serial, x), step(t, serial, y)
			if x < y && sx.StartedAt.Before(*sy.EndedAt) && sy.StartedAt.Before(*sx.EndedAt) {
				t.Errorf("with parallel 1, %s and %s overlap", x, y)
			}
		}
	}
}

func TestRetryAttemptsAndTimeoutKill(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: retries
steps:
  third_time_lucky:
    kind: checkpoint
    retry: {attempts: 3, backoff: 10ms}
    run: echo x >> COUNTER/lucky; test $(wc -l < COUNTER/lucky) -ge 3 && echo lucky
  slow:
    kind: checkpoint
    timeout: 200ms
    run: sleep 30 & echo $! > COUNTER/orphan.pid; wait
  never:
    kind: checkpoint
    retry: {attempts: 2, backoff: 1ms}
    run: echo x >> COUNTER/never; exit 1
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	lucky := step(t, run, "third_time_lucky")
	if lucky.Status != StepCompleted || lucky.Attempts != 3 || lucky.Output != "lucky" || te.count("lucky") != 3 {
		t.Errorf("lucky %+v count %d", lucky, te.count("lucky"))
	}
	never := step(t, run, "never")
	if never.Status != StepFailed || never.Attempts != 2 || te.count("never") != 2 {
		t.Errorf("never %+v count %d", never, te.count("never"))
	}
	slow := step(t, run, "slow")
	if slow.Status != StepFailed || slow.Error == nil || !strings.Contains(*slow.Error, "timed out after 200ms") {
		t.Errorf("slow %+v", slow)
	}
	if n := len(te.events.of(EventStepRetrying)); n != 3 {
		t.Errorf("%d retrying events, want 3", n)
	}
	// The whole process group was killed, the background sleep included.
	data, err := os.ReadFile(filepath.Join(te.counter, "orphan.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid == 0 || !processGone(pid) {
		t.Errorf("the timed-out step's background process %d survived", pid)
	}
}

// processGone waits (up to 5s) until pid has exited; a zombie counts as
// gone. It reports whether it did.
func processGone(pid int) bool {
	for range 50 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if f := strings.Fields(string(data)); len(f) > 2 && f[2] == "Z" {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func TestForeach(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: fan
inputs:
  xs: {type: list, default: [a, b, c, d]}
steps:
  each:
    kind: checkpoint
    foreach: inputs.xs
    run: echo ${{ item }} >> COUNTER/${{ item }}; test ${{ item }} != c -o -f COUNTER/fixed && echo ${{ index }}-${{ item }}
  joined:
    kind: checkpoint
    value: ${{ join(steps.each.output, ",") }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	each := step(t, run, "each")
	if len(each.Items) != 4 || each.Items[2].Status != StepFailed || each.Items[1].Output != "1-b" {
		t.Fatalf("items %+v", each.Items)
	}
	evs := te.events.of(EventItemFinished)
	if len(evs) != 4 || evs[3].Done != 4 || evs[3].Total != 4 {
		t.Fatalf("item events %+v", evs)
	}
	// The failed item is told as failed, so a view counts it apart.
	for _, ev := range evs {
		if failed := *ev.Item == 2; failed != strings.Contains(ev.Error, "exited with status 1") {
			t.Errorf("item %d finished with error %q", *ev.Item, ev.Error)
		}
	}
	os.WriteFile(filepath.Join(te.counter, "fixed"), nil, 0o600)
	again, err := te.eng.Retry(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, again, RunCompleted)
	if n := len(step(t, again, "each").Items); n != 4 {
		t.Errorf("the retried run's record has %d items, want 4", n)
	}
	if step(t, again, "joined").Output != "0-a,1-b,2-c,3-d" {
		t.Fatalf("joined %#v", step(t, again, "joined").Output)
	}
	// Only the failed item ran again.
	for x, want := range map[string]int{"a": 1, "b": 1, "c": 2, "d": 1} {
		if got := te.count(x); got != want {
			t.Errorf("item %s ran %d times, want %d", x, got, want)
		}
	}
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil || len(step(t, got, "each").Items) != 4 {
		t.Fatalf("get items: %v %+v", err, got)
	}
}

func TestRedactionOfSecrets(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	f := te.flow(`
name: secretive
steps:
  use:
    kind: checkpoint
    secrets: [webhook]
    run: echo "token is $TOKEN"; echo "err $TOKEN" >&2
  fail:
    kind: checkpoint
    secrets: [webhook]
    run: echo "bad $TOKEN" >&2; exit 1
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	if out := step(t, run, "use").Output; out != "token is ***" {
		t.Errorf("output %#v", out)
	}
	if e := step(t, run, "fail").Error; e == nil || !strings.Contains(*e, "bad ***") {
		t.Errorf("error %v", e)
	}
	if !step(t, run, "use").Masked || !step(t, run, "fail").Masked {
		t.Errorf("a step whose output or error was masked does not record it")
	}
	// Nothing on disk holds the value.
	filepath.Walk(te.home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			if strings.Contains(string(data), "s3cr3t-value") {
				t.Errorf("%s holds the secret value", p)
			}
		}
		return nil
	})
	var logs []string
	te.eng.Logs(t.Context(), run.ID, "use", false, func(l LogLine) error { logs = append(logs, l.Text); return nil })
	const note = "secret values in its output or error were replaced by *** (later steps receive them masked too)"
	if got := strings.Join(logs, "|"); got != "token is ***|err ***|"+note && got != "err ***|token is ***|"+note {
		t.Errorf("logs %q", logs)
	}
}

func TestRegistrySnapshotsAndArtifacts(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/a"}, "old": {Model: "openai/old"}}, Default: "fast"}
	f := te.flow(`
name: snap
steps:
  ask:
    kind: llm
    model: fast
    system: be brief
    prompt: hi
  gate:
    kind: wait
    question: ok?
    needs: [ask]
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	if run.Registry == nil || run.Registry.Aliases["fast"].Model != "openai/a" {
		t.Fatalf("registry snapshot %+v", run.Registry)
	}
	prompt, err := os.ReadFile(filepath.Join(te.files.StepDir(run.ID, "ask"), "prompt.json"))
	if err != nil || !strings.Contains(string(prompt), `"be brief"`) {
		t.Fatalf("prompt.json %s, %v", prompt, err)
	}
	// The record's names, and the model the alias stood for.
	for _, want := range []string{`"model": "openai/a"`, `"alias": "fast"`, `"messages": [`} {
		if !strings.Contains(string(prompt), want) {
			t.Errorf("prompt.json lacks %s:\n%s", want, prompt)
		}
	}
	if strings.Contains(string(prompt), `"Model"`) || strings.Contains(string(prompt), "MaxTokens") {
		t.Errorf("prompt.json uses Go's field names:\n%s", prompt)
	}
	if resp, err := os.ReadFile(filepath.Join(te.files.StepDir(run.ID, "ask"), "response.txt")); err != nil || string(resp) != "answer to: hi" {
		t.Fatalf("response.txt %q, %v", resp, err)
	}
	// The machine's registry changes: resume keeps the snapshot, replay
	// takes the current one and falls back to the snapshot.
	te.models.reg = providers.Registry{Aliases: map[string]providers.Alias{"fast": {Model: "openai/b"}}, Default: "fast"}
	te.models.used = nil
	if _, err := te.eng.Resume(t.Context(), run.ID, 0); err != nil {
		t.Fatal(err)
	}
	if len(te.models.used) != 1 || te.models.used[0].Aliases["fast"].Model != "openai/a" {
		t.Fatalf("resume resolved with %+v", te.models.used)
	}
	te.models.used = nil
	rep, err := te.eng.Replay(t.Context(), ReplayOptions{Source: run.ID, From: "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if len(te.models.used) != 1 || te.models.used[0].Aliases["fast"].Model != "openai/b" || te.models.used[0].Aliases["old"].Model != "openai/old" {
		t.Fatalf("replay resolved with %+v", te.models.used)
	}
	if rep.Registry == nil || rep.Registry.Aliases["fast"].Model != "openai/b" {
		t.Fatalf("replay recorded %+v", rep.Registry)
	}
}

// A damaged step record: Get still shows the run, the step's error names
// the file; resume refuses rather than guess.
func TestDamagedStepRecord(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	f := te.flow(`
name: damaged
steps:
  a: {kind: checkpoint, value: one}
  b: {kind: checkpoint, value: two}
  c:
    kind: wait
    question: ok?
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	p := filepath.Join(te.files.StepDir(run.ID, "b"), "result.json")
	if err := os.WriteFile(p, []byte(`{"id": "b", "sta`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b := step(t, got, "b"); b.Status != StepFailed || b.Error == nil || !strings.Contains(*b.Error, p) {
		t.Errorf("damaged step shows as %+v", b)
	}
	if a := step(t, got, "a"); a.Output != "one" {
		t.Errorf("a: %+v", a)
	}
	if _, err := te.eng.Resume(t.Context(), run.ID, 0); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("resume over a damaged record: %v", err)
	}
}

func TestCheckpointStdinEnvDirAndJSON(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: io
inputs:
  who: {type: string, default: kit}
steps:
  piped:
    kind: checkpoint
    stdin: hello ${{ inputs.who }}
    env:
      GREETING: hi ${{ inputs.who }}
    dir: COUNTER
    run: 'echo "$(cat)|$GREETING|$(pwd)"; echo'
  parsed:
    kind: checkpoint
    output: json
    run: 'echo "{\"n\": 2, \"xs\": [1]}"'
  bad_json:
    kind: checkpoint
    output: json
    run: echo not json at all
`)
	run := te.start(f, nil)
	if got := step(t, run, "piped").Output; got != "hello kit|hi kit|"+te.counter+"\n" {
		t.Errorf("piped output %q (only one final newline is dropped)", got)
	}
	if got := step(t, run, "parsed").Output; fmt.Sprint(got) != "map[n:2 xs:[1]]" {
		t.Errorf("parsed output %#v", got)
	}
	if e := step(t, run, "bad_json").Error; e == nil || !strings.Contains(*e, `"not json at all"`) {
		t.Errorf("bad json error %v", e)
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base    time.Duration
		attempt int
		lo, hi  time.Duration
	}{
		{0, 1, 0, 0},
		{time.Second, 1, 500 * time.Millisecond, 1500 * time.Millisecond},
		{time.Second, 3, 2 * time.Second, 6 * time.Second},
		{time.Second, 40, 150 * time.Second, 450 * time.Second},
		{time.Hour, 2, 150 * time.Second, 450 * time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(tt.base, tt.attempt)
			if d < tt.lo || d > tt.hi {
				t.Errorf("backoff(%v, %d) = %v, want within [%v, %v]", tt.base, tt.attempt, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if tt.base > 0 && len(seen) < 2 {
			t.Errorf("backoff(%v, %d) has no jitter", tt.base, tt.attempt)
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	ok := te.flow("name: good\nsteps:\n  a: {kind: checkpoint, value: 1}\n")
	bad := te.flow("name: bad\nsteps:\n  a: {kind: checkpoint, run: exit 1}\n")
	te.start(ok, nil)
	te.start(bad, nil)
	last := te.start(ok, nil)
	// A run whose process died reads as interrupted.
	m, err := te.store.LoadMeta(bg, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.Status = RunRunning
	if err := te.store.SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    ListFilter
		want []string // flows, newest first
	}{
		{ListFilter{}, []string{"good", "bad", "good"}},
		{ListFilter{Flow: "good"}, []string{"good", "good"}},
		{ListFilter{Status: RunFailed}, []string{"bad"}},
		{ListFilter{Status: RunInterrupted}, []string{"good"}},
		{ListFilter{Limit: 1}, []string{"good"}},
	}
	for _, tt := range tests {
		runs, err := te.eng.List(t.Context(), tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.Flow)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("List(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// A model error that retrying cannot fix fails the step at once; a
// transient one uses every attempt.
func TestRetryStopsAtPermanentModelErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"permanent", fmt.Errorf("no API key for openai/x: %w", providers.ErrPermanent), 1},
		{"transient", errors.New("connection reset by peer"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newEnv(t)
			te.models.fail = tc.err
			run := te.start(te.flow(`
name: perm
steps:
  ask:
    kind: llm
    model: openai/x
    prompt: hi
    retry: {attempts: 3, backoff: 1ms}
`), nil)
			wantStatus(t, run, RunFailed)
			if got := step(t, run, "ask").Attempts; got != tc.want || te.models.calls != tc.want {
				t.Fatalf("attempts %d, calls %d; want %d", got, te.models.calls, tc.want)
			}
		})
	}
}

// The journal names what happened; a step's output is in its record only,
// so a big one is not written (and held) twice.
func TestJournalHoldsNoOutputs(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	f := te.flow(`
name: quiet
steps:
  one:
    kind: checkpoint
    value: output-of-one-0123456789
  many:
    kind: checkpoint
    foreach: ${{ ["item-a-0123456789", "item-b-0123456789"] }}
    value: ${{ item }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	data, err := os.ReadFile(filepath.Join(te.files.RunDir(run.ID), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"output-of-one-0123456789", "item-a-0123456789", "item-b-0123456789"} {
		if strings.Contains(string(data), out) {
			t.Errorf("the journal holds the output %q:\n%s", out, data)
		}
	}
	if !strings.Contains(string(data), `"type":"step_finished"`) {
		t.Errorf("the journal lacks step_finished events:\n%s", data)
	}
}

// A flow whose output cannot be made fails the run; its ending says so and
// its error is only why.
func TestFlowOutputFailureEnding(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(`
name: badout
steps:
  a: {kind: checkpoint, value: "text"}
output: ${{ steps.a.output.missing.deeper }}
`), nil)
	wantStatus(t, run, RunFailed)
	if run.Ending == nil || !reflect.DeepEqual(*run.Ending, Ending{Code: runstore.EndOutputFailed}) || run.Error == nil || strings.Contains(*run.Error, "flow's output") {
		t.Errorf("ending %+v, error %q", run.Ending, deref(run.Error))
	}
}
