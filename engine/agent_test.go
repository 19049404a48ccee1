package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/providers"
)

// agentEnv is a file store engine whose models are the real clients
// against srv.
func agentEnv(t *testing.T, srv *fakellm.Server, parallel int) *testEnv {
	t.Helper()
	te := newFileEnv(t)
	env := map[string]string{"OPENAI_API_KEY": "sk-test-123456789", "OPENAI_BASE_URL": srv.URL,
		"ANTHROPIC_API_KEY": "sk-test-123456789", "ANTHROPIC_BASE_URL": srv.URL}
	wd, _ := os.Getwd()
	te.eng = New(Config{Store: te.store, Observer: te.events, Parallel: parallel, WorkDir: wd,
		Models: providers.Source{Options: providers.Options{Getenv: func(k string) string { return env[k] }}}})
	return te
}

// agentFlow: lookup appends to COUNTER/lookup-CITY; when WAITFOR names a
// file it waits (up to 5 s) for it, so two calls that meet ran at once.
const agentFlow = `
name: agent
tools:
  lookup:
    description: Population of a city.
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
    run: |
      echo x >> "COUNTER/lookup-$CITY"
      touch "COUNTER/started-$CITY"
      met=alone
      if [ -n "$WAITFOR" ]; then
        for i in $(seq 100); do [ -f "COUNTER/started-$WAITFOR" ] && { met=together; break; }; sleep 0.05; done
      fi
      echo "$CITY:$met"
    env: {CITY: "${{ args.city }}", WAITFOR: "${{ args.wait ?? '' }}"}
  add:
    parameters: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}
    value: ${{ args.a + args.b }}
  slow:
    parameters: {type: object}
    run: |
      echo x >> COUNTER/slow
      if [ ! -f COUNTER/resumed ]; then sleep 30 & echo $! > COUNTER/sleep.pid; wait; fi
      echo slept
steps:
  research:
    kind: llm
    model: MODEL
    prompt: How many people live in Paris and Rome together?
    tools: [lookup, add, slow]
    max_turns: MAXTURNS
output: ${{ steps.research.output }}
`

func agentSource(te *testEnv, model string, maxTurns int) string {
	src := strings.ReplaceAll(agentFlow, "MODEL", model)
	return strings.ReplaceAll(src, "MAXTURNS", strconv.Itoa(maxTurns))
}

// One turn asks for three calls: two lookups that only meet when they run
// at the same time, and an add whose arguments miss b, whose error goes
// back to the model; the next turn answers. Over both wire protocols.
func TestAgentLoopParallelCallsAndArgumentErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ protocol, model string }{{"openai", "openai/gpt-4o-mini"}, {"anthropic", "anthropic/claude-sonnet-4-0"}} {
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New(tt.protocol,
				fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris","wait":"Rome"}`, "lookup", `{"city":"Rome","wait":"Paris"}`, "add", `{"a":1}`)},
				fakellm.Turn{Text: "4.9 million"})
			defer srv.Close()
			te := agentEnv(t, srv, 4)
			run := te.start(te.flow(agentSource(te, tt.model, 10)), nil)
			wantStatus(t, run, RunCompleted)
			if run.Output != "4.9 million" {
				t.Fatalf("output %v", run.Output)
			}
			r := step(t, run, "research")
			if len(r.Turns) != 2 || len(r.Turns[0].ToolCalls) != 3 || r.Turns[1].Text != "4.9 million" {
				t.Fatalf("turns %+v", r.Turns)
			}
			calls := r.Turns[0].ToolCalls
			if calls[0].Output != "Paris:together" || calls[1].Output != "Rome:together" {
				t.Errorf("the lookups of one turn did not run at once: %v, %v", calls[0].Output, calls[1].Output)
			}
			if calls[2].Error == nil || !strings.Contains(*calls[2].Error, "do not match the parameters of tool add") || calls[2].Output != nil {
				t.Errorf("add with a missing argument: %+v", calls[2])
			}
			sent := srv.Requests()[1].Results[fakellm.CallID(1, 3)]
			if !strings.HasPrefix(sent, "error: the arguments do not match") {
				t.Errorf("the model was sent %q for the failed call", sent)
			}
			if got := srv.Requests()[1].Results[fakellm.CallID(1, 1)]; got != "Paris:together" {
				t.Errorf("the model was sent %q for lookup", got)
			}
			// The fake bills 10·turn in and 5 out per turn.
			if r.Usage != (providers.Usage{InputTokens: 30, OutputTokens: 10}) || r.Turns[0].Usage.InputTokens != 10 {
				t.Errorf("usage %+v, turns %+v / %+v", r.Usage, r.Turns[0].Usage, r.Turns[1].Usage)
			}
			if run.Usage != r.Usage {
				t.Errorf("run usage %+v, step %+v", run.Usage, r.Usage)
			}
		})
	}
}

// With --parallel 1 the calls of a turn take the run's one place in turn
// (no deadlock with the step holding it), so the lookups never meet.
func TestAgentToolCallsKeepToParallel(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "lookup", `{"city":"Rome","wait":"Nowhere"}`)},
		fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 1)
	run := te.start(te.flow(agentSource(te, "openai/gpt-4o-mini", 10)), nil)
	wantStatus(t, run, RunCompleted)
	if calls := step(t, run, "research").Turns[0].ToolCalls; calls[1].Output != "Rome:alone" {
		t.Fatalf("calls %+v", calls)
	}
}

func TestAgentMaxTurns(t *testing.T) {
	t.Parallel()
	again := fakellm.Turn{Calls: fakellm.Calls("add", `{"a":1,"b":2}`)}
	srv := fakellm.New("openai", again, again, again, fakellm.Turn{Text: "late"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	run := te.start(te.flow(agentSource(te, "openai/gpt-4o-mini", 2)), nil)
	wantStatus(t, run, RunFailed)
	r := step(t, run, "research")
	if r.Error == nil || !strings.Contains(*r.Error, "after 2 turns, its max_turns") {
		t.Fatalf("error %v", r.Error)
	}
	if len(r.Turns) != 2 || r.Turns[1].ToolCalls[0].Output != 3.0 {
		t.Fatalf("turns %+v", r.Turns)
	}
	if asked := srv.Asked(); asked[1] != 1 || asked[2] != 1 || len(asked) != 2 {
		t.Fatalf("asked %v, want turns 1 and 2 once", asked)
	}
}

// A run killed (SIGKILL) between two turns, or while a tool call runs, is
// resumed: no turn is requested again, no recorded tool call runs again.
func TestAgentCrashResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		killAt string // a hook point; "" kills while slow sleeps
		n      int
		script []fakellm.Turn
		counts map[string]int // the tools' counter files after the resume
	}{
		{
			name:   "between turns",
			killAt: "turn:after-record", n: 3, // turn 1, its two calls
			script: []fakellm.Turn{
				{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "lookup", `{"city":"Rome"}`)},
				{Calls: fakellm.Calls("lookup", `{"city":"Oslo"}`)},
				{Text: "done"},
			},
			counts: map[string]int{"lookup-Paris": 1, "lookup-Rome": 1, "lookup-Oslo": 1},
		},
		{
			name:   "after a turn, before its calls",
			killAt: "turn:after-record", n: 4, // turn 2's model record
			script: []fakellm.Turn{
				{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "lookup", `{"city":"Rome"}`)},
				{Calls: fakellm.Calls("lookup", `{"city":"Oslo"}`)},
				{Text: "done"},
			},
			counts: map[string]int{"lookup-Paris": 1, "lookup-Rome": 1, "lookup-Oslo": 1},
		},
		{
			name: "during a tool call",
			script: []fakellm.Turn{
				{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "slow", `{}`)},
				{Text: "done"},
			},
			counts: map[string]int{"lookup-Paris": 1, "slow": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New("openai", tt.script...)
			defer srv.Close()
			te := agentEnv(t, srv, 1)
			flowFile := filepath.Join(t.TempDir(), "agent.yaml")
			src := strings.ReplaceAll(agentSource(te, "openai/gpt-4o-mini", 10), "COUNTER", te.counter)
			if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=" + tt.killAt, "KITARU_TEST_KILL_N=" + strconv.Itoa(tt.n),
				"KITARU_TEST_MODELS=1", "OPENAI_API_KEY=sk-test-123456789", "OPENAI_BASE_URL=" + srv.URL, providers.EnvMockResponse + "="}
			child, line := startChild(t, "run", te.home, env, "run ")
			id := strings.TrimPrefix(line, "run ")
			if tt.killAt == "" {
				killWhileSleeping(t, te, child)
			}
			wantKilled(t, child)
			if err := os.WriteFile(filepath.Join(te.counter, "resumed"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			before := len(srv.Requests())
			run, err := te.eng.Resume(t.Context(), id, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			for turn, n := range srv.Asked() {
				if n != 1 {
					t.Errorf("turn %d was requested %d times (%d requests before the resume)", turn, n, before)
				}
			}
			if got := len(srv.Asked()); got != len(tt.script) {
				t.Errorf("%d turns requested, want %d", got, len(tt.script))
			}
			for name, want := range tt.counts {
				if got := te.count(name); got != want {
					t.Errorf("%s ran %d times, want %d", name, got, want)
				}
			}
			r := step(t, run, "research")
			if len(r.Turns) != len(tt.script) {
				t.Fatalf("the record lists %d turns, want %d", len(r.Turns), len(tt.script))
			}
			// Every turn was paid for once and is counted once.
			want := providers.Usage{}
			for i := range tt.script {
				want = want.Add(providers.Usage{InputTokens: 10 * (i + 1), OutputTokens: 5})
			}
			if r.Usage != want {
				t.Errorf("usage %+v, want %+v", r.Usage, want)
			}
		})
	}
}
