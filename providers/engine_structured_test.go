package providers_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/providers"
)

// scriptServer is a fake provider that answers its n-th request with the
// n-th of answers (the last repeats), through wrap, and keeps every
// request body.
type scriptServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newScriptServer(t *testing.T, wrap func(answer string) string, answers ...string) *scriptServer {
	s := &scriptServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request is not JSON: %s", raw)
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		n := len(s.bodies)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, wrap(answers[min(n, len(answers))-1]))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) requests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

// openAIAnswer is a chat completion answering text, 100 tokens in and 20 out.
func openAIAnswer(text string) string {
	content, _ := json.Marshal(text)
	return `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
		"choices":[{"index":0,"message":{"role":"assistant","content":` + string(content) + `},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120}}`
}

// anthropicToolAnswer is a message calling the answer tool "extract" with
// input (JSON), 200 tokens in and 30 out.
func anthropicToolAnswer(input string) string {
	return `{"id":"m","type":"message","role":"assistant","model":"claude-haiku-4-5",
		"content":[{"type":"tool_use","id":"toolu_1","name":"extract","input":` + input + `}],
		"stop_reason":"tool_use","usage":{"input_tokens":200,"output_tokens":30}}`
}

func founderFlow(model string, extra string) string {
	return `name: founders
steps:
  extract:
    kind: llm
    model: ` + model + `
    prompt: Who founded the company, and when?
    schema:
      type: object
      properties:
        name: {type: string}
        year: {type: integer}
      required: [name, year]
` + extra + `  say:
    kind: checkpoint
    value: ${{ steps.extract.output.name }}
output: ${{ steps.extract.output }}
`
}

// messagesOf is what an OpenAI request's messages say, role: content.
func messagesOf(body map[string]any) []string {
	var out []string
	list, _ := body["messages"].([]any)
	for _, m := range list {
		m, _ := m.(map[string]any)
		content, _ := m["content"].(string)
		if parts, ok := m["content"].([]any); ok { // Anthropic's blocks
			for _, p := range parts {
				p, _ := p.(map[string]any)
				t, _ := p["text"].(string)
				content += t
			}
		}
		out = append(out, m["role"].(string)+": "+content)
	}
	return out
}

// An OpenAI answer that is not JSON, then one that breaks the schema, are
// each asked for again in the same conversation with what was wrong; the
// third, in a ```json fence, is the output. All three calls are counted,
// and the step's turns say what each one was refused for.
func TestSchemaReaskedOverOpenAI(t *testing.T) {
	srv := newScriptServer(t, openAIAnswer,
		"Ada Lovelace, in 1843.",
		`{"name": "Ada Lovelace", "year": "1843"}`,
		"```json\n{\"name\": \"Ada Lovelace\", \"year\": 1843}\n```")
	eng, opts := engineWith(t, map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": "sk-env-key-123456"}, founderFlow("openai/gpt-4o-mini", ""))
	run, err := eng.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != engine.RunCompleted {
		t.Fatalf("run is %s: %v", run.Status, stepErrors(run))
	}
	if want := map[string]any{"name": "Ada Lovelace", "year": 1843.0}; !reflect.DeepEqual(run.Output, want) {
		t.Errorf("output %#v, want the parsed answer %v", run.Output, want)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, body := range reqs {
		rf, _ := body["response_format"].(map[string]any)
		if rf["type"] != "json_schema" {
			t.Errorf("request %d has response_format %v", i+1, body["response_format"])
		}
	}
	second, third := messagesOf(reqs[1]), messagesOf(reqs[2])
	if len(second) != 3 || second[1] != "assistant: Ada Lovelace, in 1843." || !strings.HasPrefix(second[2], "user: Your answer is not JSON") {
		t.Errorf("the second request does not answer the first in the same conversation: %q", second)
	}
	if len(third) != 5 || !strings.Contains(third[4], "at /year: got string, want integer") || !strings.Contains(third[4], `"required":["name","year"]`) {
		t.Errorf("the third request does not say what broke the schema: %q", third)
	}

	stored, err := eng.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	perCall := (100*0.15 + 20*0.60) / 1e6 // gpt-4o-mini
	for _, r := range []*engine.Run{run, stored} {
		s := stepOfRun(t, r, "extract")
		if s.Attempts != 1 || len(s.AttemptsDetail) != 0 {
			t.Errorf("asking again is not a retry of the step: attempts %d, %+v", s.Attempts, s.AttemptsDetail)
		}
		if s.Usage != (providers.Usage{InputTokens: 300, OutputTokens: 60}) || s.CostUSD == nil || math.Abs(*s.CostUSD-3*perCall) > 1e-12 {
			t.Errorf("usage %+v cost %v, want three calls' (300/60, %v)", s.Usage, s.CostUSD, 3*perCall)
		}
		if r.Usage != s.Usage {
			t.Errorf("run usage %+v, want the step's %+v", r.Usage, s.Usage)
		}
		if len(s.Turns) != 3 {
			t.Fatalf("turns %+v, want 3", s.Turns)
		}
		for i, tn := range s.Turns {
			if tn.Turn != i+1 || tn.Usage != (providers.Usage{InputTokens: 100, OutputTokens: 20}) || tn.CostUSD == nil {
				t.Errorf("turn %d: %+v", i+1, tn)
			}
		}
		if e := s.Turns[0].Error; e == nil || !strings.Contains(*e, "is not JSON") || s.Turns[0].Pointer != nil {
			t.Errorf("turn 1 error %v pointer %v, want not JSON and no pointer", e, s.Turns[0].Pointer)
		}
		if p := s.Turns[1].Pointer; p == nil || *p != "/year" {
			t.Errorf("turn 2 pointer %v, want /year", p)
		}
		if s.Turns[2].Error != nil {
			t.Errorf("the answer taken records an error: %v", *s.Turns[2].Error)
		}
	}
}

// Anthropic answers through the forced tool; an answer missing a required
// field is asked for again, the previous answer going back as the
// assistant's turn. Once schema_retries runs out the step fails naming
// the pointer, and every call is counted.
func TestSchemaFailsAfterRetriesOverAnthropic(t *testing.T) {
	srv := newScriptServer(t, anthropicToolAnswer, `{"name": "Ada"}`, `{"name": "Ada", "year": "soon"}`)
	eng, opts := engineWith(t, map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-key-123456"},
		founderFlow("anthropic/claude-haiku-4-5", "    schema_retries: 1\n"))
	run, err := eng.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != engine.RunFailed {
		t.Fatalf("run is %s, want failed", run.Status)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (schema_retries: 1)", len(reqs))
	}
	for i, body := range reqs {
		if tc, _ := body["tool_choice"].(map[string]any); tc["type"] != "tool" || tc["name"] != "extract" {
			t.Errorf("request %d does not force the answer tool: %v", i+1, body["tool_choice"])
		}
	}
	second := messagesOf(reqs[1])
	if len(second) != 3 || second[1] != `assistant: {"name":"Ada"}` || !strings.Contains(second[2], `at "" (the whole value): missing property 'year'`) {
		t.Errorf("the second request is not the conversation with the error: %q", second)
	}
	s := stepOfRun(t, run, "extract")
	if s.Error == nil || !strings.Contains(*s.Error, "breaks the schema at /year: got string, want integer") || !strings.Contains(*s.Error, "asked 2 times (schema_retries: 1)") {
		t.Errorf("step error %v, want the pointer that broke and how often it asked", s.Error)
	}
	if s.Usage != (providers.Usage{InputTokens: 400, OutputTokens: 60}) || s.CostUSD == nil || *s.CostUSD <= 0 {
		t.Errorf("usage %+v cost %v, want both calls counted", s.Usage, s.CostUSD)
	}
	if len(s.Turns) != 2 || s.Turns[0].Pointer == nil || *s.Turns[0].Pointer != "" || *s.Turns[1].Pointer != "/year" {
		t.Errorf("turns %+v, want two with pointers \"\" and /year", s.Turns)
	}
	if say := stepOfRun(t, run, "say"); say.Status == engine.StepCompleted {
		t.Error("the step after it ran on an answer that broke the schema")
	}
}
