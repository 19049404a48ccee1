package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/providers"
)

// waitAgent is testdata/wait_tools.yaml: lookup counts its runs in
// COUNTER/lookup-CITY; ask and confirm put questions to a person.
func waitAgent(model, timeout string) string {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "wait_tools.yaml"))
	if err != nil {
		panic(err) // the file is in the repository
	}
	return strings.NewReplacer("MODEL", model, "TIMEOUT", timeout).Replace(string(src))
}

// waitingAgent starts waitAgentFlow over OpenAI with script, and wants
// it waiting.
func waitingAgent(t *testing.T, timeout string, script ...fakellm.Turn) (*testEnv, *fakellm.Server, *Run) {
	t.Helper()
	srv := fakellm.New("openai", script...)
	t.Cleanup(srv.Close)
	te := agentEnv(t, srv, 2)
	run := te.start(te.flow(waitAgent("openai/gpt-4o-mini", timeout)), nil)
	wantStatus(t, run, RunWaiting)
	return te, srv, run
}

func answer(t *testing.T, te *testEnv, id string, v any) *Run {
	t.Helper()
	raw, _ := json.Marshal(v)
	run, err := te.eng.Answer(t.Context(), id, "", raw)
	if err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return run
}

func resume(t *testing.T, te *testEnv, id string) *Run {
	t.Helper()
	run, err := te.eng.Resume(t.Context(), id, 0)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	return run
}

// A turn with a lookup and two questions, then a turn with one more: the
// run waits at each, the questions are answered in order, and each
// resume continues the loop, the answers going to the model as the calls'
// results. No turn is asked twice, the lookup runs once. Over both wire
// protocols.
func TestAgentWaitTools(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ protocol, model string }{{"openai", "openai/gpt-4o-mini"}, {"anthropic", "anthropic/claude-sonnet-4-0"}} {
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New(tt.protocol,
				fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "ask", `{"question":"Which year?"}`, "ask", `{"question":"City or metro area?"}`)},
				fakellm.Turn{Calls: fakellm.Calls("confirm", `{"claim":"2.1 million"}`)},
				fakellm.Turn{Text: "2.1 million in 2024"})
			defer srv.Close()
			te := agentEnv(t, srv, 2)
			run := te.start(te.flow(waitAgent(tt.model, "1h")), nil)
			wantStatus(t, run, RunWaiting)
			r := step(t, run, "research")
			if r.Status != StepWaiting || r.Wait == nil || r.Wait.Question != "Which year?" || len(r.Wait.Calls) != 2 || r.Wait.Calls[1].Question != "City or metro area?" {
				t.Fatalf("step %s, wait %+v", r.Status, r.Wait)
			}
			if calls := r.Turns[0].ToolCalls; calls[0].Output != "Paris:2.1" || !calls[1].Pending || calls[1].Wait == nil {
				t.Fatalf("turn 1's calls %+v", calls)
			}

			// The first answer leaves the second question: resuming only
			// waits again.
			run = answer(t, te, run.ID, "2024")
			wantStatus(t, run, RunWaiting)
			run = resume(t, te, run.ID)
			wantStatus(t, run, RunWaiting)
			if q := step(t, run, "research").Wait; q == nil || q.Question != "City or metro area?" || len(q.Calls) != 1 {
				t.Fatalf("after one answer: %+v", q)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Fatalf("%d requests before the questions were answered, want 1", n)
			}
			run = answer(t, te, run.ID, "city")
			wantStatus(t, run, RunWaiting)
			if s := step(t, run, "research").Status; s != StepPending {
				t.Fatalf("answered step is %s, want pending", s)
			}
			run = resume(t, te, run.ID)
			wantStatus(t, run, RunWaiting)
			sent := srv.Requests()[1].Results
			if sent[fakellm.CallID(1, 1)] != "Paris:2.1" || sent[fakellm.CallID(1, 2)] != "2024" || sent[fakellm.CallID(1, 3)] != "city" {
				t.Fatalf("turn 2 was sent %v", sent)
			}
			if q := step(t, run, "research").Wait; q == nil || q.Question != "Is 2.1 million right?" || q.Deadline == nil {
				t.Fatalf("turn 2's question: %+v", q)
			}

			// An answer that breaks the tool's schema is refused.
			raw, _ := json.Marshal("maybe")
			if _, err := te.eng.Answer(t.Context(), run.ID, "research", raw); err == nil || !strings.Contains(err.Error(), "does not fit its schema") {
				t.Fatalf("a string for a boolean question: %v", err)
			}
			answer(t, te, run.ID, true)
			run = resume(t, te, run.ID)
			wantStatus(t, run, RunCompleted)
			if run.Output != "2.1 million in 2024" {
				t.Fatalf("output %v", run.Output)
			}
			if got := srv.Requests()[2].Results[fakellm.CallID(2, 1)]; got != "true" {
				t.Errorf("turn 3 was sent %q", got)
			}
			for turn, n := range srv.Asked() {
				if n != 1 {
					t.Errorf("turn %d was requested %d times", turn, n)
				}
			}
			if n := te.count("lookup-Paris"); n != 1 {
				t.Errorf("lookup ran %d times, want 1", n)
			}
			r = step(t, run, "research")
			if len(r.Turns) != 3 || r.Turns[0].ToolCalls[2].Output != "city" || !r.Turns[1].ToolCalls[0].Wait.Answered || r.Attempts != 1 {
				t.Errorf("record: attempts %d, turns %+v", r.Attempts, r.Turns)
			}
			if r.Usage != (providers.Usage{InputTokens: 60, OutputTokens: 15}) {
				t.Errorf("usage %+v: want each turn counted once", r.Usage)
			}
		})
	}
}

// --abort at a tool's question ends the run cancelled, as at a wait step.
func TestAgentWaitToolAbort(t *testing.T) {
	t.Parallel()
	te, _, run := waitingAgent(t, "1h", fakellm.Turn{Calls: fakellm.Calls("ask", `{"question":"Go on?"}`)}, fakellm.Turn{Text: "done"})
	run, err := te.eng.Abort(t.Context(), run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCancelled)
	if r := step(t, run, "research"); r.Status != StepFailed || r.Error == nil || *r.Error != "aborted at the question of tool ask" {
		t.Errorf("step %s: %v", r.Status, r.Error)
	}
}

// An answer after the tool's timeout fails the step; its retry asks the
// question again, with a new deadline, without asking the model again.
func TestAgentWaitToolTimeout(t *testing.T) {
	t.Parallel()
	te, srv, run := waitingAgent(t, "50ms", fakellm.Turn{Calls: fakellm.Calls("confirm", `{"claim":"x"}`)}, fakellm.Turn{Text: "done"})
	first := *step(t, run, "research").Wait.Deadline
	time.Sleep(100 * time.Millisecond)
	raw, _ := json.Marshal(true)
	run, err := te.eng.Answer(t.Context(), run.ID, "", raw)
	if err == nil || run == nil {
		t.Fatalf("a late answer: %v", err)
	}
	wantStatus(t, run, RunFailed)
	run, err = te.eng.Retry(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if d := step(t, run, "research").Wait.Deadline; d == nil || !d.After(first) {
		t.Errorf("the retry's deadline %v, the first %v", d, first)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want the one turn", n)
	}
}

// Killed (SIGKILL) once its question is recorded but before the turn's
// other call ran, the run resumes to wait for the answer; answered and
// killed again after the next model turn, it resumes to the end. No turn
// is asked twice, no finished call runs twice.
func TestAgentWaitToolCrash(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("ask", `{"question":"Which year?"}`, "lookup", `{"city":"Paris"}`)},
		fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Rome"}`)},
		fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 1)
	flowFile := filepath.Join(t.TempDir(), "agent.yaml")
	src := strings.ReplaceAll(waitAgent("openai/gpt-4o-mini", "1h"), "COUNTER", te.counter)
	if err := os.WriteFile(flowFile, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=turn:after-record", "KITARU_TEST_MODELS=1",
		"OPENAI_API_KEY=sk-test-123456789", "OPENAI_BASE_URL=" + srv.URL, providers.EnvMockResponse + "="}
	// Records: turn 1, then its first call, the question.
	child, line := startChild(t, "run", te.home, append(env, "KITARU_TEST_KILL_N=2"), "run ")
	id := strings.TrimPrefix(line, "run ")
	wantKilled(t, child)
	if n := te.count("lookup-Paris"); n != 0 {
		t.Fatalf("lookup ran %d times before the kill, want 0", n)
	}
	run := resume(t, te, id)
	wantStatus(t, run, RunWaiting)
	if q := step(t, run, "research").Wait; q == nil || q.Question != "Which year?" || te.count("lookup-Paris") != 1 {
		t.Fatalf("after the resume: wait %+v, lookup ran %d times", q, te.count("lookup-Paris"))
	}
	answer(t, te, id, "2024")
	// The resume that continues the loop is killed after turn 2's record.
	child, _ = startChild(t, "run", te.home, append(env, "KITARU_TEST_KILL_N=1", "KITARU_TEST_RESUME="+id), "run ")
	wantKilled(t, child)
	run = resume(t, te, id)
	wantStatus(t, run, RunCompleted)
	for turn, n := range srv.Asked() {
		if n != 1 {
			t.Errorf("turn %d was requested %d times", turn, n)
		}
	}
	if len(srv.Asked()) != 3 || te.count("lookup-Paris") != 1 || te.count("lookup-Rome") != 1 {
		t.Errorf("asked %v, lookups Paris %d, Rome %d: want 3 turns, one lookup each", srv.Asked(), te.count("lookup-Paris"), te.count("lookup-Rome"))
	}
	if got := srv.Requests()[1].Results[fakellm.CallID(1, 1)]; got != "2024" {
		t.Errorf("turn 2 was sent %q for the question", got)
	}
}

// A question whose arguments do not fit the tool's parameters is not put:
// the error goes back to the model, as for any tool, and the loop goes on.
func TestAgentWaitToolBadArguments(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("ask", `{"topic":"x"}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	run := te.start(te.flow(waitAgent("openai/gpt-4o-mini", "1h")), nil)
	wantStatus(t, run, RunCompleted)
	if got := srv.Requests()[1].Results[fakellm.CallID(1, 1)]; !strings.HasPrefix(got, "error: the arguments do not match the parameters of tool ask") {
		t.Errorf("the model was sent %q", got)
	}
}

// A foreach step's items may ask a person through a wait tool: each
// item's loop waits, the step waits once the other items are done, its
// questions listed in the items' order, each naming its item. Each answer
// goes to its item's conversation; the resume runs on only the items that
// asked, and no turn is asked again.
func TestWaitToolInForeachItems(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("ask", `{"question":"Which?"}`)},
		fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	f := te.flow(`name: fe
tools:
  ask:
    kind: wait
    question: ${{ args.question }}
    parameters: {type: object, properties: {question: {type: string}}, required: [question]}
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: ${{ ["a", "b"] }}
    prompt: About ${{ item }}
    tools: [ask]
output: ${{ steps.research.output }}
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunWaiting)
	s := step(t, run, "research")
	if s.Status != StepWaiting || s.Wait == nil || len(s.Wait.Calls) != 2 {
		t.Fatalf("step %s, wait %+v", s.Status, s.Wait)
	}
	for i, q := range s.Wait.Calls {
		if q.Item == nil || *q.Item != i || q.Question != "Which?" || q.Tool != "ask" {
			t.Errorf("question %d: %+v", i, q)
		}
	}
	run = answer(t, te, run.ID, "for a")
	if w := step(t, run, "research").Wait; w == nil || len(w.Calls) != 1 || *w.Calls[0].Item != 1 {
		t.Fatalf("after the first answer: %+v", w)
	}
	run = answer(t, te, run.ID, "for b")
	run = resume(t, te, run.ID)
	wantStatus(t, run, RunCompleted)
	if out, _ := run.Output.([]any); len(out) != 2 || out[0] != "done" || out[1] != "done" {
		t.Errorf("output %v", run.Output)
	}
	if asked := srv.Asked(); asked[1] != 2 || asked[2] != 2 {
		t.Errorf("turns asked %v: want each item's two turns once", asked)
	}
	var got []string
	for _, r := range srv.Requests() {
		if r.Turn == 2 {
			got = append(got, r.Results[fakellm.CallID(1, 1)])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"for a", "for b"}) {
		t.Errorf("the answers the model got: %q", got)
	}
	s = step(t, run, "research")
	for i, it := range s.Items {
		if it.Status != StepCompleted || it.Attempts != 1 || len(it.Turns) != 2 || !it.Turns[0].ToolCalls[0].Wait.Answered {
			t.Errorf("item %d: %s, %d attempts, turns %+v", i, it.Status, it.Attempts, it.Turns)
		}
	}
	if a := s.Items[0].Turns[0].ToolCalls[0].Output; a != "for a" {
		t.Errorf("item 0's answer is %v", a)
	}
}
