package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/providers"
)

// agentEnv is a file store engine whose models are the real clients
// against srv.
func agentEnv(t *testing.T, srv *fakellm.Server, parallel int) *testEnv {
	t.Helper()
	return agentEnvOf(t, srv.URL, srv.URL, parallel)
}

// agentEnvOf is agentEnv with openai/ models against one server and
// anthropic/ ones against another.
func agentEnvOf(t *testing.T, openaiURL, anthropicURL string, parallel int) *testEnv {
	t.Helper()
	te := newFileEnv(t)
	env := map[string]string{"OPENAI_API_KEY": "sk-test-123456789", "OPENAI_BASE_URL": openaiURL,
		"ANTHROPIC_API_KEY": "sk-test-123456789", "ANTHROPIC_BASE_URL": anthropicURL}
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
    parameters: {type: object, properties: {city: {type: string}, wait: {type: string}}, required: [city]}
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
	if r.Error == nil || !strings.Contains(*r.Error, "asked for tools on turn 2, the last its max_turns (2) allows, so they were not run; raise max_turns") {
		t.Fatalf("error %v", r.Error)
	}
	// The last turn's call is not run: no turn is left for its result.
	if len(r.Turns) != 2 || r.Turns[0].ToolCalls[0].Output != 3.0 {
		t.Fatalf("turns %+v", r.Turns)
	}
	if c := r.Turns[1].ToolCalls[0]; c.Output != nil || c.Pending || !c.NotRun {
		t.Fatalf("the last turn's call %+v, want it not run", c)
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
			var pidFile string
			if tt.killAt == "" {
				// The call's process group is noted just after it starts:
				// kill once it is, as a real kill mostly lands.
				waitFor(t, func() bool {
					rec, _ := filepath.Glob(filepath.Join(te.home, "runs", id, "steps", "research", "pgid-call-*"))
					return len(rec) > 0
				})
				pidFile = killWhileSleeping(t, te, child)
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
			if pidFile != "" && runtime.GOOS == "linux" && !processGone(readPIDFile(t, pidFile)) {
				t.Error("the killed run's tool call was left running beside the call the resume ran again")
			}
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

// schemaAgentFlow: a tool loop whose answer must follow a schema.
const schemaAgentFlow = `
name: agent
tools:
  lookup:
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
    value: ${{ args.city + ':1843' }}
steps:
  research:
    kind: llm
    model: MODEL
    prompt: When?
    tools: [lookup]
    max_turns: MAXTURNS
    schema: {type: object, properties: {year: {type: integer}}, required: [year]}
output: ${{ steps.research.output.year }}
`

// A tool loop with a schema, over both wire protocols: a tool turn, an
// answer that breaks the schema (asked for again in the same loop, a turn
// of its own), then the answer taken. With max_turns 2 the asking again
// has no turn left.
func TestAgentLoopWithSchema(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ protocol, model string }{{"openai", "openai/gpt-4o-mini"}, {"anthropic", "anthropic/claude-sonnet-4-0"}} {
		script := []fakellm.Turn{{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`)}, {Text: `{"year": "1843"}`}, {Text: `{"year": 1843}`}}
		if tt.protocol == "anthropic" {
			// Anthropic answers through the answer tool, named after the step.
			script[1], script[2] = fakellm.Turn{Calls: fakellm.Calls("research", `{"year": "1843"}`)}, fakellm.Turn{Calls: fakellm.Calls("research", `{"year": 1843}`)}
		}
		start := func(t *testing.T, maxTurns string) (*Run, *fakellm.Server) {
			srv := fakellm.New(tt.protocol, script...)
			t.Cleanup(srv.Close)
			te := agentEnv(t, srv, 2)
			return te.start(te.flow(strings.NewReplacer("MODEL", tt.model, "MAXTURNS", maxTurns).Replace(schemaAgentFlow)), nil), srv
		}
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			run, srv := start(t, "10")
			wantStatus(t, run, RunCompleted)
			if run.Output != 1843.0 {
				t.Fatalf("output %#v", run.Output)
			}
			r := step(t, run, "research")
			if len(r.Turns) != 3 || len(r.Turns[0].ToolCalls) != 1 || r.Turns[0].ToolCalls[0].Output != "Paris:1843" {
				t.Fatalf("turns %+v", r.Turns)
			}
			if e, p := r.Turns[1].Error, r.Turns[1].Pointer; e == nil || !strings.Contains(*e, "breaks the schema at /year") || p == nil || *p != "/year" || r.Turns[2].Error != nil {
				t.Errorf("turn 2 error %v pointer %v, turn 3 error %v", e, p, r.Turns[2].Error)
			}
			// The fake bills 10·turn in and 5 out per turn: the asking
			// again is counted as every other call.
			if r.Usage != (providers.Usage{InputTokens: 60, OutputTokens: 15}) {
				t.Errorf("usage %+v", r.Usage)
			}
			reqs := srv.Requests()
			msgs, _ := reqs[2].Body["messages"].([]any)
			last, _ := msgs[len(msgs)-1].(map[string]any)
			if text := fmt.Sprint(last["content"]); !strings.Contains(text, "does not follow the JSON Schema") {
				t.Errorf("the third request does not ask again: %s", text)
			}
		})
		t.Run(tt.protocol+" max_turns", func(t *testing.T) {
			t.Parallel()
			run, srv := start(t, "2")
			wantStatus(t, run, RunFailed)
			r := step(t, run, "research")
			if r.Error == nil || !strings.Contains(*r.Error, "breaks the schema at /year") || !strings.Contains(*r.Error, "its max_turns") {
				t.Errorf("error %v", r.Error)
			}
			if asked := srv.Asked(); len(asked) != 2 {
				t.Errorf("asked %v, want turns 1 and 2", asked)
			}
		})
	}
}

// An llm step with a schema and no tools records its turns as a tool
// loop does: killed after its first answer (refused), resumed, it asks
// again in the same conversation without asking the first turn again.
func TestSchemaReaskCrashResume(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai", fakellm.Turn{Text: `{"year": "soon"}`}, fakellm.Turn{Text: `{"year": 1843}`})
	defer srv.Close()
	te := agentEnv(t, srv, 1)
	flowFile := filepath.Join(t.TempDir(), "schema.yaml")
	src := "name: schema\nsteps:\n  research:\n    kind: llm\n    model: openai/gpt-4o-mini\n    prompt: When?\n" + yearSchema
	if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=turn:after-record", "KITARU_TEST_KILL_N=1",
		"KITARU_TEST_MODELS=1", "OPENAI_API_KEY=sk-test-123456789", "OPENAI_BASE_URL=" + srv.URL, providers.EnvMockResponse + "="}
	child, line := startChild(t, "run", te.home, env, "run ")
	wantKilled(t, child)
	run, err := te.eng.Resume(t.Context(), strings.TrimPrefix(line, "run "), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if asked := srv.Asked(); len(asked) != 2 || asked[1] != 1 || asked[2] != 1 {
		t.Errorf("asked %v, want each turn once", asked)
	}
	r := step(t, run, "research")
	if len(r.Turns) != 2 || r.Turns[0].Error == nil || r.Usage != (providers.Usage{InputTokens: 30, OutputTokens: 10}) {
		t.Errorf("turns %+v, usage %+v: want both turns, the killed go's counted", r.Turns, r.Usage)
	}
}

// With cache:, a tool loop's answer is kept under its first request: a
// later run takes it with no call and runs no tool.
func TestAgentLoopCached(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`)}, fakellm.Turn{Text: "2.1 million"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	f := te.flow(strings.Replace(agentSource(te, "openai/gpt-4o-mini", 10), "    max_turns: 10\n", "    max_turns: 10\n    cache: true\n", 1))
	for i := range 2 {
		run := te.start(f, nil)
		wantStatus(t, run, RunCompleted)
		if run.Output != "2.1 million" || len(srv.Requests()) != 2 || te.count("lookup-Paris") != 1 {
			t.Fatalf("run %d: output %v, %d requests, lookup ran %d times; want the answer, 2 requests and one lookup in all", i+1, run.Output, len(srv.Requests()), te.count("lookup-Paris"))
		}
		if why := step(t, run, "research").Why; (i == 1) != (why != nil && why.Code == runstore.ReasonCached) {
			t.Errorf("run %d: why %+v", i+1, why)
		}
	}
	// The same request with a tool since edited: the cached answer was
	// built on the old tool's results, so the loop runs again.
	edited := te.flow(strings.Replace(string(f.Source), "value: ${{ args.a + args.b }}", "value: ${{ args.a + args.b + 0 }}", 1))
	run := te.start(edited, nil)
	wantStatus(t, run, RunCompleted)
	if why := step(t, run, "research").Why; why != nil && why.Code == runstore.ReasonCached || len(srv.Requests()) != 4 || te.count("lookup-Paris") != 2 {
		t.Errorf("after editing a tool: why %+v, %d requests, lookup ran %d times; want no cache hit, 4 requests, 2 lookups", why, len(srv.Requests()), te.count("lookup-Paris"))
	}
}

// A tool's big output (10 MB in 1 million lines) is kept whole once, in
// its turn record: the step's record, the run's journal and the log hold
// a bounded view.
func TestAgentBigToolOutputKeptOnce(t *testing.T) {
	t.Parallel()
	const size = 10_000_000
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("big", `{}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	run := te.start(te.flow(`
name: big
tools:
  big:
    run: yes aaaaaaaaa | head -c `+strconv.Itoa(size)+`
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: go
    tools: [big]
`), nil)
	wantStatus(t, run, RunCompleted)
	if got := srv.Requests()[1].Results[fakellm.CallID(1, 1)]; len(got) != size-1 {
		t.Fatalf("the model was sent %d bytes of the output, want all %d (its last newline trimmed)", len(got), size-1)
	}
	out, _ := step(t, run, "research").Turns[0].ToolCalls[0].Output.(string)
	if len(out) > 100<<10 || !strings.Contains(out, "the whole output is in the turn record") {
		t.Errorf("the step's record holds %d bytes of the output, ending %q", len(out), out[max(0, len(out)-200):])
	}
	var big []string
	err := filepath.Walk(te.home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > 1<<20 {
			big = append(big, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(big) != 1 || !strings.Contains(big[0], string(filepath.Separator)+"turns"+string(filepath.Separator)) {
		t.Fatalf("files over 1 MiB: %v; want the turn record alone", big)
	}
}

// A model that answers a step offering no tools with tool calls: text
// beside them is the answer, and with no text the step fails saying so,
// with no panic, whether or not the step keeps its turns (a schema).
func TestUnofferedToolCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, schema string
		turn         fakellm.Turn
		status       RunStatus
		want         string
	}{
		{"calls alone", "", fakellm.Turn{Calls: fakellm.Calls("lookup", `{}`)}, RunFailed, `call of tool "lookup" instead of text, but the step offers no tools`},
		{"calls beside text", "", fakellm.Turn{Text: "Paris", Calls: fakellm.Calls("lookup", `{}`)}, RunCompleted, ""},
		{"with a schema", "    schema: {type: string}\n", fakellm.Turn{Calls: fakellm.Calls("lookup", `{}`)}, RunFailed, "offers no tools"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New("openai", tc.turn)
			defer srv.Close()
			te := agentEnv(t, srv, 2)
			run := te.start(te.flow("name: n\nsteps:\n  one:\n    kind: llm\n    model: openai/gpt-4o-mini\n    prompt: hi\n"+tc.schema), nil)
			wantStatus(t, run, tc.status)
			r := step(t, run, "one")
			if tc.want != "" && (r.Error == nil || !strings.Contains(*r.Error, tc.want) || strings.Contains(*r.Error, "internal error")) {
				t.Errorf("error %v, want %q", deref(r.Error), tc.want)
			}
		})
	}
}
