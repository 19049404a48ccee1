package providers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// askedServer is an OpenAI server answering 10 tokens in and 5 out (15 a
// call) that counts how often each prompt "ask-X" was asked. The first
// together requests wait for each other (up to 5s), so that they are in
// flight at once.
type askedServer struct {
	*httptest.Server
	mu    sync.Mutex
	asked map[string]int
	gate  chan struct{}
}

var askRE = regexp.MustCompile(`ask-[a-z0-9]+`)

func newAskedServer(t *testing.T, together int) *askedServer {
	s := &askedServer{asked: map[string]int{}, gate: make(chan struct{})}
	var arrived int
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.asked[askRE.FindString(string(body))]++
		arrived++
		if arrived == together {
			close(s.gate)
		}
		wait := arrived <= together
		s.mu.Unlock()
		if wait {
			select {
			case <-s.gate:
			case <-time.After(5 * time.Second):
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, openAIHello)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *askedServer) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.asked {
		out[k] = v
	}
	return out
}

func (s *askedServer) total() int {
	n := 0
	for _, v := range s.counts() {
		n += v
	}
	return n
}

// budgetFlow has four llm steps with no dependencies between them and a
// step that needs them all, under budget (a line, or "").
func budgetFlow(budget string) string {
	return "name: budget\n" + budget + `
steps:
  a: {kind: llm, model: openai/gpt-4o-mini, prompt: ask-a}
  b: {kind: llm, model: openai/gpt-4o-mini, prompt: ask-b}
  c: {kind: llm, model: openai/gpt-4o-mini, prompt: ask-c}
  d: {kind: llm, model: openai/gpt-4o-mini, prompt: ask-d}
  all: {kind: checkpoint, needs: [a, b, c, d], value: done}
`
}

// budgetEach is the same with the four calls as items of one step.
const budgetEach = `name: budget
budget: {max_tokens: 10}
inputs:
  items: {type: list, default: [a, b, c, d]}
steps:
  each:
    kind: llm
    model: openai/gpt-4o-mini
    foreach: ${{ inputs.items }}
    prompt: ask-${{ item }}
  all: {kind: checkpoint, needs: [each], value: done}
`

// A budget stops a run whose parallel calls spent it: the two calls in
// flight finish and are recorded (30 tokens, past the 10 allowed), no
// other starts, and the run ends failed, budget exceeded. Resumed with the
// same budget it starts nothing; with a larger one it completes, and no
// finished call is asked again.
func TestBudgetStopsAndResumes(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, flow string }{
		{"steps", budgetFlow("budget: {max_tokens: 10}")},
		{"foreach items", budgetEach},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newAskedServer(t, 2)
			eng, opts := engineWith(t, map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "sk-env-key-123456"}, c.flow)
			opts.Parallel = 2
			ctx := context.Background()
			run, err := eng.Start(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != engine.RunFailed || run.Ending == nil || run.Ending.Code != runstore.EndBudgetExceeded {
				t.Fatalf("run %s, ending %+v: want failed, budget exceeded", run.Status, run.Ending)
			}
			sp := run.Ending.Budget
			if sp == nil || sp.Reached != "max_tokens" || sp.Usage.Total() != 30 || sp.Limit != (flowspec.Budget{MaxTokens: 10}) {
				t.Errorf("budget figures %+v, want 30 of 10 tokens", sp)
			}
			if run.Usage.Total() != 30 || srv.total() != 2 {
				t.Errorf("run used %d tokens in %d requests, want 30 in 2", run.Usage.Total(), srv.total())
			}
			if run.Remedy == nil || run.Remedy.Do != runstore.RemedyRaiseBudget || run.Remedy.Name != "max_tokens" {
				t.Errorf("remedy %+v", run.Remedy)
			}
			if all := stepOfRun(t, run, "all"); all.Status != engine.StepPending {
				t.Errorf("step all is %s, want pending", all.Status)
			}

			again, err := eng.Resume(ctx, run.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != engine.RunFailed || again.Ending.Code != runstore.EndBudgetExceeded || srv.total() != 2 {
				t.Fatalf("resumed with the same budget: %s, %+v, %d requests", again.Status, again.Ending, srv.total())
			}

			done, err := eng.Resume(ctx, run.ID, 2, engine.WithBudget(flowspec.Budget{MaxTokens: 1000}))
			if err != nil {
				t.Fatal(err)
			}
			if done.Status != engine.RunCompleted {
				t.Fatalf("resumed with a larger budget: %s: %s", done.Status, stepErrors(done))
			}
			for p, n := range srv.counts() {
				if n != 1 {
					t.Errorf("%s was asked %d times", p, n)
				}
			}
			if srv.total() != 4 || done.Usage.Total() != 60 {
				t.Errorf("%d requests, %d tokens; want 4 and 60", srv.total(), done.Usage.Total())
			}
			if done.Budget == nil || *done.Budget != (flowspec.Budget{MaxTokens: 1000}) {
				t.Errorf("the run records budget %+v", done.Budget)
			}
		})
	}
}

// Flags win over the file's budget, limit by limit; a replay counts only
// what it spends itself.
func TestBudgetFlagsOverFile(t *testing.T) {
	t.Parallel()
	// gpt-4o-mini: 10 in at $0.15 and 5 out at $0.60 a million tokens.
	const perCall = (10*0.15 + 5*0.60) / 1e6
	cases := []struct {
		name       string
		file       string
		flags      flowspec.Budget
		wantStatus engine.RunStatus
		wantCalls  int
		wantLimit  *flowspec.Budget
	}{
		{"file", "budget: {max_tokens: 20}", flowspec.Budget{}, engine.RunFailed, 2, &flowspec.Budget{MaxTokens: 20}},
		{"flag raises", "budget: {max_tokens: 20}", flowspec.Budget{MaxTokens: 1000}, engine.RunCompleted, 4, &flowspec.Budget{MaxTokens: 1000}},
		{"flag lowers", "budget: {max_tokens: 1000}", flowspec.Budget{MaxTokens: 20}, engine.RunFailed, 2, &flowspec.Budget{MaxTokens: 20}},
		{"flag without file", "", flowspec.Budget{MaxTokens: 40}, engine.RunFailed, 3, &flowspec.Budget{MaxTokens: 40}},
		{"other limit kept", "budget: {max_cost_usd: 0.000005}", flowspec.Budget{MaxTokens: 1000}, engine.RunFailed, 2,
			&flowspec.Budget{MaxCostUSD: 0.000005, MaxTokens: 1000}},
		{"none", "", flowspec.Budget{}, engine.RunCompleted, 4, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newAskedServer(t, 0)
			eng, opts := engineWith(t, map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "sk-env-key-123456"}, budgetFlow(c.file))
			opts.Parallel, opts.Budget = 1, c.flags
			run, err := eng.Start(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != c.wantStatus || srv.total() != c.wantCalls {
				t.Errorf("run %s after %d calls, want %s after %d", run.Status, srv.total(), c.wantStatus, c.wantCalls)
			}
			if (run.Budget == nil) != (c.wantLimit == nil) || run.Budget != nil && *run.Budget != *c.wantLimit {
				t.Errorf("the run records budget %+v, want %+v", run.Budget, c.wantLimit)
			}
			if c.name == "other limit kept" && (run.Ending.Budget.Reached != "max_cost_usd" || run.CostUSD < 2*perCall*0.999) {
				t.Errorf("ending %+v, cost %v", run.Ending.Budget, run.CostUSD)
			}
		})
	}
}

// A replay's budget counts what the replay spends: the reused steps cost
// it nothing, so a budget below what the source spent still lets it run.
func TestReplayBudgetCountsItsOwnCalls(t *testing.T) {
	t.Parallel()
	srv := newAskedServer(t, 0)
	eng, opts := engineWith(t, map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "sk-env-key-123456"}, budgetFlow(""))
	ctx := context.Background()
	src, err := eng.Start(ctx, opts)
	if err != nil || src.Status != engine.RunCompleted || src.Usage.Total() != 60 {
		t.Fatalf("source run: %v %+v", err, src)
	}
	rep, err := eng.Replay(ctx, engine.ReplayOptions{Source: src.ID, From: "d", Budget: flowspec.Budget{MaxTokens: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != engine.RunCompleted || rep.Usage.Total() != 15 || srv.total() != 5 {
		t.Errorf("replay %s, %d tokens, %d requests in all; want completed, 15, 5", rep.Status, rep.Usage.Total(), srv.total())
	}
}
