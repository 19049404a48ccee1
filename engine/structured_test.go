package engine

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

// scriptedModels answers its n-th call with the n-th of answers (the last
// repeats), 10 tokens in and 5 out for $0.5; hold, when set, makes call n
// wait for its context to end instead.
type scriptedModels struct {
	mu      sync.Mutex
	answers []string
	reqs    []providers.Request
	hold    func(n int) bool
	started chan int // each call's number, when not nil
}

func (m *scriptedModels) Current() (providers.Registry, error)       { return providers.Registry{}, nil }
func (m *scriptedModels) Caller(providers.Registry) providers.Caller { return m }

func (m *scriptedModels) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	m.mu.Lock()
	m.reqs = append(m.reqs, req)
	n := len(m.reqs)
	m.mu.Unlock()
	if m.started != nil {
		m.started <- n
	}
	if m.hold != nil && m.hold(n) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	cost := 0.5
	return &providers.Response{Text: m.answers[min(n, len(m.answers))-1], Model: "fake/model",
		Usage: providers.Usage{InputTokens: 10, OutputTokens: 5}, CostUSD: &cost, CredentialSource: providers.CredentialNone}, nil
}

func (m *scriptedModels) calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reqs)
}

func scriptedEnv(t *testing.T, answers ...string) (*testEnv, *scriptedModels) {
	te := newEnv(t)
	m := &scriptedModels{answers: answers}
	te.eng = New(Config{Store: te.store, Models: m})
	return te, m
}

const yearSchema = "    schema: {type: object, properties: {year: {type: integer}}, required: [year]}\n"

// A ```json fence around an answer is not an error, with a schema or with
// output: json; the output is the parsed value either way.
func TestFencedAnswersParse(t *testing.T) {
	t.Parallel()
	for _, field := range []string{yearSchema, "    output: json\n"} {
		for _, answer := range []string{"```json\n{\"year\": 1843}\n```", "\n```\n{\"year\": 1843}\n```\n", "```JSON\n{\"year\": 1843}```"} {
			te, m := scriptedEnv(t, answer)
			run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n"+field), nil)
			wantStatus(t, run, RunCompleted)
			if out := step(t, run, "a").Output; !reflect.DeepEqual(out, map[string]any{"year": 1843.0}) {
				t.Errorf("%q with %q: output %#v, want the parsed value", field, answer, out)
			}
			if m.calls() != 1 {
				t.Errorf("%q with %q: %d calls, want 1", field, answer, m.calls())
			}
		}
	}
}

// Text that is not one fenced block stays what it is: output: json fails
// on it, quoting it, as before.
func TestUnfencedProseStillFailsOutputJSON(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{"Here:\n```json\n{\"year\": 1843}\n```", "```python\nprint(1)\n```", "```json\n{}\n```\n```json\n{}\n```"} {
		te, _ := scriptedEnv(t, answer)
		run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n    output: json\n"), nil)
		wantStatus(t, run, RunFailed)
		if e := step(t, run, "a").Error; e == nil || !strings.Contains(*e, "output: json, but the output is not JSON") {
			t.Errorf("%q: error %v", answer, e)
		}
	}
}

// schema_retries: 0 asks once; the failure names the pointer and is
// retried as any failure when the step's retry says so, each attempt with
// its own conversation, its turns and its spend.
func TestSchemaFailureAndStepRetries(t *testing.T) {
	t.Parallel()
	te, m := scriptedEnv(t, `{"year": "soon"}`, `{"year": "later"}`, `{"year": 1843}`)
	run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n    retry: {attempts: 2, backoff: 1ms}\n    schema_retries: 0\n"+yearSchema), nil)
	wantStatus(t, run, RunFailed)
	if m.calls() != 2 {
		t.Fatalf("%d calls, want 2 (two attempts of one call each)", m.calls())
	}
	s := step(t, run, "a")
	if s.Error == nil || !strings.Contains(*s.Error, "breaks the schema at /year") || !strings.Contains(*s.Error, "asked once (schema_retries: 0)") {
		t.Errorf("error %v", s.Error)
	}
	if len(s.Turns) != 0 || s.Usage != (providers.Usage{InputTokens: 20, OutputTokens: 10}) || s.CostUSD == nil || *s.CostUSD != 1.0 {
		t.Errorf("turns %+v usage %+v cost %v; want no turns (one call each) and two calls counted", s.Turns, s.Usage, s.CostUSD)
	}
	// A fresh attempt starts the conversation over.
	for i, req := range m.reqs {
		if len(req.Messages) != 1 {
			t.Errorf("attempt %d sent %d messages, want the prompt alone", i+1, len(req.Messages))
		}
	}
}

// With re-asks inside attempts, each attempt lists its own turns, the
// step the last one's, and the sums cover every call.
func TestSchemaTurnsPerAttemptAndItem(t *testing.T) {
	t.Parallel()
	t.Run("attempts", func(t *testing.T) {
		t.Parallel()
		te, m := scriptedEnv(t, `{}`, `{}`, `{}`, `{"year": 1}`)
		run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n    retry: {attempts: 2, backoff: 1ms}\n    schema_retries: 1\n"+yearSchema), nil)
		wantStatus(t, run, RunCompleted)
		s := step(t, run, "a")
		if m.calls() != 4 || s.Attempts != 2 || len(s.AttemptsDetail) != 2 {
			t.Fatalf("calls %d attempts %d detail %+v", m.calls(), s.Attempts, s.AttemptsDetail)
		}
		for i, a := range s.AttemptsDetail {
			if len(a.Turns) != 2 || a.Usage != (providers.Usage{InputTokens: 20, OutputTokens: 10}) {
				t.Errorf("attempt %d: turns %+v usage %+v, want two calls", i+1, a.Turns, a.Usage)
			}
		}
		if len(s.Turns) != 2 || s.Turns[1].Error != nil || s.Usage != (providers.Usage{InputTokens: 40, OutputTokens: 20}) || *s.CostUSD != 2.0 {
			t.Errorf("step turns %+v usage %+v cost %v", s.Turns, s.Usage, *s.CostUSD)
		}
	})
	t.Run("items", func(t *testing.T) {
		t.Parallel()
		te, _ := scriptedEnv(t, `{"year": "x"}`, `{"year": 2}`)
		run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    foreach: ${{ [1] }}\n    prompt: When ${{ item }}?\n"+yearSchema), nil)
		wantStatus(t, run, RunCompleted)
		it := step(t, run, "a").Items[0]
		if len(it.Turns) != 2 || it.Turns[0].Pointer == nil || *it.Turns[0].Pointer != "/year" || it.Usage != (providers.Usage{InputTokens: 20, OutputTokens: 10}) {
			t.Errorf("item turns %+v usage %+v", it.Turns, it.Usage)
		}
		if !reflect.DeepEqual(step(t, run, "a").Output, []any{map[string]any{"year": 2.0}}) {
			t.Errorf("output %v", step(t, run, "a").Output)
		}
	})
}

// A run stopped while asking again keeps what the calls before cost:
// resume's record counts them.
func TestStoppedWhileAskingAgainKeepsSpend(t *testing.T) {
	t.Parallel()
	te, m := scriptedEnv(t, `{}`, `{"year": 1}`)
	var resumed atomic.Bool
	m.hold = func(n int) bool { return n == 2 && !resumed.Load() }
	m.started = make(chan int, 4)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for n := range m.started {
			if n == 2 {
				cancel()
				return
			}
		}
	}()
	f := te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n" + yearSchema)
	run, err := te.eng.Start(ctx, StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunInterrupted)
	resumed.Store(true)
	run, err = te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	// Calls: {} (paid), the held one (stopped, no answer), then on resume
	// {"year": 1} answered at once.
	s := step(t, run, "a")
	if m.calls() != 3 || s.Usage != (providers.Usage{InputTokens: 20, OutputTokens: 10}) || *s.CostUSD != 1.0 {
		t.Errorf("calls %d usage %+v cost %v; want the stopped go's paid call counted with resume's", m.calls(), s.Usage, *s.CostUSD)
	}
}

// The offline mock's answer is validated as any other: JSON that follows
// the schema is the output, prose fails after asking again.
func TestMockAnswerAgainstSchema(t *testing.T) {
	flow := "name: f\nsteps:\n  a:\n    kind: llm\n    model: openai/gpt-4o-mini\n    prompt: When?\n" + yearSchema
	t.Setenv(providers.EnvMockResponse, `{"year": 1843}`)
	te := newEnv(t)
	te.eng = New(Config{Store: te.store})
	run := te.start(te.flow(flow), nil)
	wantStatus(t, run, RunCompleted)
	if out := step(t, run, "a").Output; !reflect.DeepEqual(out, map[string]any{"year": 1843.0}) {
		t.Errorf("output %#v", out)
	}
	t.Setenv(providers.EnvMockResponse, "mocked")
	run = te.start(te.flow(flow), nil)
	wantStatus(t, run, RunFailed)
	s := step(t, run, "a")
	if len(s.Turns) != 3 || s.Error == nil || !strings.Contains(*s.Error, `is not JSON`) || !strings.Contains(*s.Error, `"mocked"`) {
		t.Errorf("turns %d error %v", len(s.Turns), s.Error)
	}
}

// An answer that writes a key twice ({"year":1,"year":2}) is not taken as
// its last value: the model is asked again, told which key, as for an
// answer that breaks the schema; nested objects are looked at too.
func TestDuplicateKeysAreAskedAgain(t *testing.T) {
	t.Parallel()
	for _, dup := range []string{`{"year": 1843, "year": 1844}`, `{"year": 1843, "n": {"a": 1, "a": 2}}`} {
		te, m := scriptedEnv(t, dup, `{"year": 1843}`)
		run := te.start(te.flow("name: f\nsteps:\n  a:\n    kind: llm\n    prompt: When?\n"+yearSchema), nil)
		wantStatus(t, run, RunCompleted)
		if m.calls() != 2 {
			t.Fatalf("%s: %d calls, want 2 (asked again)", dup, m.calls())
		}
		s := step(t, run, "a")
		if len(s.Turns) != 2 || s.Turns[0].Error == nil || !strings.Contains(*s.Turns[0].Error, "is written more than once in this object") {
			t.Errorf("%s: turns %+v", dup, s.Turns)
		}
		reask := m.reqs[1].Messages[len(m.reqs[1].Messages)-1].Content
		if !strings.Contains(reask, "writes a key twice") {
			t.Errorf("%s: the model was told %q", dup, reask)
		}
	}
}
