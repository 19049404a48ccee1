package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// fakeRunner answers every call with a prepared run, announcing it to the
// observer first as the engine does, and remembers what it was asked.
type fakeRunner struct {
	obs    engine.Observer
	run    *engine.Run
	err    error
	calls  []string
	replay engine.ReplayOptions
	answer json.RawMessage
}

func (f *fakeRunner) give(ctx context.Context, call string) (*engine.Run, error) {
	f.calls = append(f.calls, call)
	if f.obs != nil && f.run != nil {
		f.obs.Event(engine.Event{Type: engine.EventRunStarted, RunID: f.run.ID, Run: f.run})
	}
	return f.run, f.err
}

func (f *fakeRunner) Start(ctx context.Context, o engine.StartOptions) (*engine.Run, error) {
	return f.give(ctx, "start")
}
func (f *fakeRunner) Resume(ctx context.Context, ref string, p int, _ ...engine.ContinueOption) (*engine.Run, error) {
	return f.give(ctx, "resume "+ref)
}
func (f *fakeRunner) Retry(ctx context.Context, ref string, p int, _ ...engine.ContinueOption) (*engine.Run, error) {
	return f.give(ctx, "retry "+ref)
}
func (f *fakeRunner) Replay(ctx context.Context, o engine.ReplayOptions) (*engine.Run, error) {
	f.replay = o
	return f.give(ctx, "replay "+o.Source)
}
func (f *fakeRunner) Answer(ctx context.Context, ref, step string, v json.RawMessage) (*engine.Run, error) {
	f.answer = v
	return f.give(ctx, "answer "+ref+" "+step)
}
func (f *fakeRunner) Abort(ctx context.Context, ref, step string) (*engine.Run, error) {
	return f.give(ctx, "abort "+ref+" "+step)
}
func (f *fakeRunner) Cancel(ctx context.Context, ref string) (*engine.Run, error) {
	return f.give(ctx, "cancel "+ref)
}
func (f *fakeRunner) Get(ctx context.Context, ref string) (*engine.Run, error) {
	return f.give(ctx, "get "+ref)
}
func (f *fakeRunner) List(ctx context.Context, lf engine.ListFilter) ([]*engine.Run, error) {
	f.calls = append(f.calls, fmt.Sprintf("list %s %s %d", lf.Flow, lf.Status, lf.Limit))
	if f.run == nil {
		return nil, f.err
	}
	return []*engine.Run{f.run}, f.err
}
func (f *fakeRunner) Logs(ctx context.Context, ref, step string, follow bool, fn func(engine.LogLine) error) error {
	f.calls = append(f.calls, "logs "+ref+" "+step)
	return f.err
}

// withFake makes the commands use f for the length of the test.
func withFake(t *testing.T, f *fakeRunner) {
	t.Helper()
	old := newRunner
	newRunner = func(obs engine.Observer, _ io.Writer) (engine.Runner, error) {
		f.obs = obs
		return f, nil
	}
	t.Cleanup(func() { newRunner = old })
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(args, IO{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	return out.String(), errb.String(), code
}

func strp(s string) *string { return &s }

func TestRunStatusesMapToExitCodesAndHints(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		run        *engine.Run
		err        error
		code       int
		wantOut    []string
		wantErr    []string
		wantCalled string
	}{
		{
			name: "completed prints the output", args: []string{"resume", "kr-abc"},
			run:  &engine.Run{ID: "kr-abc", Status: engine.RunCompleted, Output: "the answer"},
			code: ExitOK, wantOut: []string{"the answer\n"}, wantCalled: "resume kr-abc",
		},
		{
			name: "failed names the retry command", args: []string{"retry", "kr-abc"},
			run: &engine.Run{ID: "kr-abc", Status: engine.RunFailed, Error: strp("step fetch failed"),
				Steps: []engine.StepResult{{ID: "fetch", Status: engine.StepFailed, Error: strp("exit status 3: no network")}}},
			code:    ExitRunFailed,
			wantErr: []string{"run kr-abc failed: step fetch failed", "step fetch: exit status 3: no network", "`kitaru retry kr-abc`"},
		},
		{
			name: "failed: the ending names the step, the error is the step's, said once", args: []string{"retry", "kr-abc"},
			run: &engine.Run{ID: "kr-abc", Status: engine.RunFailed, Error: strp("exit status 3: no network"),
				Ending: &engine.Ending{Code: runstore.EndStepFailed, Step: "fetch"},
				Steps:  []engine.StepResult{{ID: "fetch", Status: engine.StepFailed, Error: strp("exit status 3: no network")}}},
			code:    ExitRunFailed,
			wantErr: []string{"run kr-abc failed: step fetch failed: exit status 3: no network\nfix the cause", "`kitaru retry kr-abc`"},
		},
		{
			name: "waiting names the input command with an example", args: []string{"resume", "last"},
			run: &engine.Run{ID: "kr-abc", Status: engine.RunWaiting, Steps: []engine.StepResult{{
				ID: "details", Status: engine.StepWaiting, Wait: &engine.WaitInfo{Question: "Where?", Schema: map[string]any{
					"type": "object", "required": []any{"channel"},
					"properties": map[string]any{"channel": map[string]any{"type": "string", "enum": []any{"blog", "social"}}},
				}},
			}}},
			code:    ExitWaiting,
			wantErr: []string{"waiting for input at step details", "Where?", "`kitaru input kr-abc details --value '{\"channel\":\"blog\"}'`"},
		},
		{
			name: "interrupted names the resume command", args: []string{"resume", "kr-abc"},
			run:     &engine.Run{ID: "kr-abc", Status: engine.RunInterrupted},
			code:    ExitInterrupted,
			wantErr: []string{"resume with `kitaru resume kr-abc`"},
		},
		{
			name: "unknown run is a usage error pointing at the list", args: []string{"executions", "get", "kr-zzz"},
			err:  fmt.Errorf("no run matches %q: %w", "kr-zzz", engine.ErrNotFound),
			code: ExitUsage, wantErr: []string{"run not found", "see `kitaru executions list`"},
		},
		{
			name: "usage errors from the engine exit 2", args: []string{"replay", "last", "--from", "nope"},
			err:  &engine.UsageError{Err: errors.New("no step nope; steps are: a, b")},
			code: ExitUsage, wantErr: []string{"no step nope; steps are: a, b"},
		},
		{
			name: "other engine errors exit 1", args: []string{"resume", "last"},
			err:  errors.New("disk full"),
			code: ExitRunFailed, wantErr: []string{"kitaru: disk full"},
		},
		{
			name: "interrupted before the run exists", args: []string{"resume", "last"},
			err:  context.Canceled,
			code: ExitInterrupted, wantErr: []string{"interrupted before the run started"},
		},
		{
			name: "abort ends cancelled with exit 0", args: []string{"input", "kr-abc", "approval", "--abort"},
			run:  &engine.Run{ID: "kr-abc", Status: engine.RunCancelled},
			code: ExitOK, wantErr: []string{"run kr-abc cancelled"}, wantCalled: "abort kr-abc approval",
		},
		{
			name: "a run cancelled by someone else exits 1", args: []string{"resume", "kr-abc"},
			run:  &engine.Run{ID: "kr-abc", Status: engine.RunCancelled},
			code: ExitRunFailed, wantErr: []string{"run kr-abc cancelled"},
		},
		{
			name: "a replay announces its id and source first", args: []string{"replay", "kr-old", "--from", "b"},
			run:  &engine.Run{ID: "kr-new", ReplayOf: strp("kr-old"), Status: engine.RunCompleted, Output: map[string]any{"n": 1}},
			code: ExitOK, wantOut: []string{"run kr-new (replay of kr-old)\n{\n  \"n\": 1\n}\n"}, wantCalled: "replay kr-old",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{run: tt.run, err: tt.err}
			withFake(t, f)
			out, errOut, code := runCLI(tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q lacks %q", out, w)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if tt.wantCalled != "" && (len(f.calls) == 0 || f.calls[0] != tt.wantCalled) {
				t.Errorf("calls %q, want first %q", f.calls, tt.wantCalled)
			}
		})
	}
}

func TestJSONOutputIsExactlyTheRecord(t *testing.T) {
	rec := &engine.Run{ID: "kr-abc", Flow: "f", Status: engine.RunCompleted, Output: "x",
		Inputs: map[string]any{"topic": "t"}, Steps: []engine.StepResult{{ID: "a", Kind: "checkpoint", Status: engine.StepCompleted, Attempts: 1, Output: "x"}}}
	for _, args := range [][]string{
		{"resume", "kr-abc", "--json"},
		{"resume", "kr-abc", "-o", "json"},
		{"executions", "get", "kr-abc", "--json"},
		{"replay", "kr-abc", "--json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			withFake(t, &fakeRunner{run: rec})
			out, errOut, code := runCLI(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := decodeRun(t, out)
			if got.ID != rec.ID || got.Status != rec.Status || len(got.Steps) != 1 {
				t.Errorf("decoded %+v, want %+v", got, rec)
			}
		})
	}
}

func TestInputValueIsJSONElseText(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"true", "true"},
		{`{"channel": "blog"}`, `{"channel":"blog"}`},
		{"blog", `"blog"`},
		{`"quoted"`, `"quoted"`},
	} {
		f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunCompleted}}
		withFake(t, f)
		if _, errOut, code := runCLI("input", "kr-abc", "step", "--value", tt.value); code != 0 {
			t.Fatalf("--value %s: exit %d: %s", tt.value, code, errOut)
		}
		if string(f.answer) != tt.want {
			t.Errorf("--value %s sent %s, want %s", tt.value, f.answer, tt.want)
		}
	}
}

func TestInputResumesOnlyWhenStillWaiting(t *testing.T) {
	f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunWaiting}}
	withFake(t, f)
	runCLI("input", "kr-abc", "--value", "1")
	if want := []string{"answer kr-abc ", "resume kr-abc"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	f = &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunWaiting}}
	withFake(t, f)
	runCLI("input", "kr-abc", "--value", "1", "--no-resume")
	if want := []string{"answer kr-abc "}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("with --no-resume calls %q, want %q", f.calls, want)
	}
}

func TestExecutionsReplayTakesKitaruSpellings(t *testing.T) {
	f := &fakeRunner{run: &engine.Run{ID: "kr-new", Status: engine.RunCompleted}}
	withFake(t, f)
	_, errOut, code := runCLI("executions", "replay", "kr-old", "--from", "write",
		"--overrides", `{"checkpoint.research": "notes", "llm.outline": {"a": 1}, "plain": 2}`,
		"--override", "other=text, with comma", "--args", `{"words": 80}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := map[string]any{"research": "notes", "outline": map[string]any{"a": 1.0}, "plain": 2.0, "other": "text, with comma"}
	if !reflect.DeepEqual(f.replay.Overrides, want) {
		t.Errorf("overrides %#v, want %#v", f.replay.Overrides, want)
	}
	if !reflect.DeepEqual(f.replay.Inputs, map[string]any{"words": 80.0}) {
		t.Errorf("inputs %#v", f.replay.Inputs)
	}
	if f.replay.From != "write" || f.replay.Source != "kr-old" {
		t.Errorf("replay options %+v", f.replay)
	}
}

func TestBadJSONFlagsAreUsageErrors(t *testing.T) {
	withFake(t, &fakeRunner{run: &engine.Run{ID: "kr-new", Status: engine.RunCompleted}})
	for _, args := range [][]string{
		{"executions", "replay", "last", "--overrides", "[1]"},
		{"executions", "replay", "last", "--args", "{nope"},
		{"replay", "last", "--override", "=3"},
		{"replay", "last", "--override", "noequals"},
	} {
		_, errOut, code := runCLI(args...)
		if code != ExitUsage {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestExampleJSON(t *testing.T) {
	tests := []struct {
		schema map[string]any
		want   string
	}{
		{nil, `"…"`},
		{map[string]any{"type": "boolean"}, `true`},
		{map[string]any{"type": "integer", "minimum": 5.0}, `5`},
		{map[string]any{"type": "string", "examples": []any{"yes"}}, `"yes"`},
		{map[string]any{"type": "array", "items": map[string]any{"type": "string"}}, `["…"]`},
		{map[string]any{"type": "object", "properties": map[string]any{"b": map[string]any{"type": "number"}, "a": map[string]any{"type": "boolean"}}}, `{"a":true}`},
		{map[string]any{"type": []any{"null", "string"}}, `null`},
	}
	for _, tt := range tests {
		if got := exampleJSON(tt.schema); got != tt.want {
			t.Errorf("exampleJSON(%v) = %s, want %s", tt.schema, got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"true":            "true",
		`{"a":1}`:         `'{"a":1}'`,
		"it's":            `'it'\''s'`,
		"":                "''",
		"kr-abc/x.y_z=1:": "kr-abc/x.y_z=1:",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestListAndCancelText(t *testing.T) {
	f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Flow: "f", Status: engine.RunRunning}}
	withFake(t, f)
	out, _, code := runCLI("executions", "list", "--flow", "f", "--status", "running", "--limit", "5")
	if code != 0 || !strings.Contains(out, "kr-abc") || !strings.HasPrefix(out, "ID") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if f.calls[0] != "list f running 6" { // one more than shown: are there more?
		t.Errorf("list filter %q", f.calls[0])
	}
	out, _, _ = runCLI("executions", "cancel", "kr-abc")
	if !strings.Contains(out, "cancel requested") {
		t.Errorf("cancel of a running run: %q", out)
	}
	out, _, _ = runCLI("executions", "list", "--json")
	var runs []engine.Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Errorf("list --json: %v\n%s", err, out)
	}
	withFake(t, &fakeRunner{})
	out, _, _ = runCLI("executions", "list", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list --json = %q, want []", out)
	}
}

func TestRunRefusesBadFlowsAndInputsBeforeRunning(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `name: good
inputs:
  words: {type: integer, default: 3}
  topic: {type: string}
steps:
  a: {kind: checkpoint, value: '${{ inputs.words }}'}
`)
	bad := write("bad.yaml", `name: bad
steps:
  a: {kind: checkpoint, value: '${{ steps.nope.output }}'}
  b: {kind: llm, model: nosuch/model, prompt: hi}
`)
	inputs := write("inputs.json", `{"topic": "from file", "words": 4}`)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"every validation error with its position", []string{"run", bad}, []string{"bad.yaml:3:", "nope", "bad.yaml:4:"}},
		{"a missing flow file", []string{"run", filepath.Join(dir, "missing.yaml")}, []string{"missing.yaml"}},
		{"a missing required input", []string{"run", good}, []string{"topic"}},
		{"an input of the wrong type", []string{"run", good, "--input", "topic=x", "--input", "words=many"}, []string{"words", "integer"}},
		{"an unknown input", []string{"run", good, "--args", `{"topic": "x", "wrods": 1}`}, []string{"wrods"}},
		{"an input without a value", []string{"run", good, "--input", "topic"}, []string{"topic"}},
		{"an unreadable inputs file", []string{"run", good, "--inputs", filepath.Join(dir, "nope.json")}, []string{"nope.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunCompleted}}
			withFake(t, f)
			_, errOut, code := runCLI(tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2\n%s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if len(f.calls) != 0 {
				t.Errorf("the engine was called (%q) although the flow or inputs were wrong", f.calls)
			}
		})
	}

	// Inputs merge file < --args < --input, and reach Start bound and typed.
	f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunCompleted}}
	withFake(t, f)
	var started engine.StartOptions
	old := newRunner
	newRunner = func(obs engine.Observer, _ io.Writer) (engine.Runner, error) {
		return startSpy{fakeRunner: f, got: &started}, nil
	}
	defer func() { newRunner = old }()
	if _, errOut, code := runCLI("run", good, "--inputs", inputs, "--args", `{"words": 5}`, "--input", "words=6"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := map[string]any{"topic": "from file", "words": int64(6)}; fmt.Sprint(started.Inputs) != fmt.Sprint(want) {
		t.Errorf("inputs %#v, want %#v", started.Inputs, want)
	}
	if started.Flow == nil || started.Flow.Name != "good" {
		t.Errorf("flow not passed to Start: %+v", started.Flow)
	}
}

// startSpy records what Start was given.
type startSpy struct {
	*fakeRunner
	got *engine.StartOptions
}

func (s startSpy) Start(ctx context.Context, o engine.StartOptions) (*engine.Run, error) {
	*s.got = o
	return s.fakeRunner.Start(ctx, o)
}

// answerRefuser refuses every answer as the schema would.
type answerRefuser struct{ *fakeRunner }

func (a answerRefuser) Answer(ctx context.Context, ref, step string, v json.RawMessage) (*engine.Run, error) {
	a.calls = append(a.calls, "answer")
	return nil, &engine.UsageError{Err: errors.New("got string, want boolean")}
}

func TestRefusedAnswerSaysTheRunStillWaits(t *testing.T) {
	f := &fakeRunner{run: &engine.Run{ID: "kr-abc", Status: engine.RunWaiting, Steps: []engine.StepResult{{
		ID: "ok", Status: engine.StepWaiting, Wait: &engine.WaitInfo{Schema: map[string]any{"type": "boolean"}}}}}}
	old := newRunner
	newRunner = func(obs engine.Observer, _ io.Writer) (engine.Runner, error) { return answerRefuser{f}, nil }
	defer func() { newRunner = old }()
	_, errOut, code := runCLI("input", "last", "--value", "maybe")
	if code != ExitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range []string{"got string, want boolean", "still waiting", "`kitaru input kr-abc ok --value true`"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if strings.Contains(strings.Join(f.calls, ","), "resume") {
		t.Errorf("a refused answer resumed the run: %q", f.calls)
	}
}

func TestParseErrorsPointAtTheCommandsHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "Run 'kitaru run --help'"},
		{[]string{"executions", "get"}, "Run 'kitaru executions get --help'"},
		{[]string{"input", "last", "--value", "1", "--abort"}, "Run 'kitaru input --help'"},
		{[]string{"nope"}, "Run 'kitaru --help'"},
	} {
		_, errOut, code := runCLI(tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
