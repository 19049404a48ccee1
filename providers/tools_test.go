package providers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// A tool loop over the real clients: the first answer asks for two tools
// at once, the second request carries both results (in the shape each
// protocol wants: tool messages; tool_result blocks after the assistant's
// tool_use blocks), and the answer ends the loop.
func TestToolCallsOnTheWire(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ protocol, model, keyVar, baseVar string }{
		{"openai", "openai/gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL"},
		{"anthropic", "anthropic/claude-sonnet-4-0", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"},
	} {
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New(tt.protocol,
				fakellm.Turn{Text: "Looking both up.", Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "lookup", `{"city":"Rome"}`)},
				fakellm.Turn{Text: "4.9 million"})
			defer srv.Close()
			c := New(Registry{}, Options{Getenv: envOf(map[string]string{tt.keyVar: "sk-test-123456789", tt.baseVar: srv.URL})})
			tools := []Tool{{Name: "lookup", Description: "Population.", Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
			req := Request{Model: tt.model, Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Paris and Rome?"}}, Tools: tools}
			resp, err := c.Call(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := []ToolCall{{fakellm.CallID(1, 1), "lookup", `{"city":"Paris"}`}, {fakellm.CallID(1, 2), "lookup", `{"city":"Rome"}`}}
			if !sameCalls(resp.ToolCalls, want) || resp.Text != "Looking both up." {
				t.Fatalf("answer %q, calls %+v; want %+v", resp.Text, resp.ToolCalls, want)
			}
			if resp.Usage.InputTokens != 10 || resp.Usage.OutputTokens != 5 {
				t.Errorf("usage %+v", resp.Usage)
			}
			req.Messages = append(req.Messages, Message{Role: "assistant", Content: resp.Text, ToolCalls: resp.ToolCalls},
				Message{Role: "tool", ToolCallID: want[0].ID, Content: "2100000"},
				Message{Role: "tool", ToolCallID: want[1].ID, Content: "2800000"})
			resp, err = c.Call(t.Context(), req)
			if err != nil {
				t.Fatalf("the second turn: %v (requests %+v)", err, srv.Requests())
			}
			if resp.Text != "4.9 million" || len(resp.ToolCalls) != 0 {
				t.Fatalf("second answer %q, %+v", resp.Text, resp.ToolCalls)
			}
			got := srv.Requests()
			if len(got) != 2 || got[1].Turn != 2 || !reflect.DeepEqual(got[1].Results, map[string]string{want[0].ID: "2100000", want[1].ID: "2800000"}) ||
				!reflect.DeepEqual(got[0].Tools, []string{"lookup"}) {
				t.Fatalf("requests %+v", got)
			}
		})
	}
}

func sameCalls(got, want []ToolCall) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		var a, b any
		_ = json.Unmarshal([]byte(got[i].Arguments), &a)
		_ = json.Unmarshal([]byte(want[i].Arguments), &b)
		if got[i].ID != want[i].ID || got[i].Name != want[i].Name || !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

func TestMockCallsEachToolOnceThenAnswers(t *testing.T) {
	t.Parallel()
	tools := []Tool{
		{Name: "lookup", Parameters: map[string]any{"type": "object", "properties": map[string]any{
			"city": map[string]any{"type": "string", "default": "Paris"}, "unit": map[string]any{"type": "string"}}, "required": []any{"city"}}},
		{Name: "add", Parameters: map[string]any{"type": "object", "properties": map[string]any{
			"a": map[string]any{"type": "number"}, "b": map[string]any{"type": "integer", "examples": []any{7}}, "op": map[string]any{"enum": []any{"plus"}}}}},
	}
	m := Mock{Text: "done"}
	req := Request{Tools: tools, Messages: []Message{{Role: "user", Content: "go"}}}
	resp, err := m.Call(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []ToolCall{{"mock-call-1", "lookup", `{"city":"Paris"}`}, {"mock-call-2", "add", `{"a":1,"b":7,"op":"plus"}`}}
	if resp.Text != "" || !sameCalls(resp.ToolCalls, want) {
		t.Fatalf("first mock answer %q %+v, want %+v", resp.Text, resp.ToolCalls, want)
	}
	req.Messages = append(req.Messages, Message{Role: "assistant", ToolCalls: resp.ToolCalls}, Message{Role: "tool", ToolCallID: "mock-call-1", Content: "1"})
	if resp, _ = m.Call(t.Context(), req); resp.Text != "done" || resp.ToolCalls != nil {
		t.Fatalf("after the results the mock said %q %+v", resp.Text, resp.ToolCalls)
	}
}

// A call with tools and a schema: OpenAI gets the tools beside
// response_format; Anthropic gets the tools and the answer tool with
// tool_choice any, and its answer is the answer tool's input. A turn that
// calls tools is a tool turn, the answer tool's call beside them dropped.
func TestToolsWithSchemaOnTheWire(t *testing.T) {
	t.Parallel()
	schema := `{"type":"object","properties":{"year":{"type":"integer"}},"required":["year"]}`
	tools := []Tool{{Name: "lookup", Parameters: map[string]any{"type": "object"}}}
	for _, tt := range []struct {
		protocol, model, keyVar, baseVar string
		answer                           fakellm.Turn // how the model answers
		check                            func(t *testing.T, body map[string]any)
	}{
		{"openai", "openai/gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL", fakellm.Turn{Text: `{"year":1843}`},
			func(t *testing.T, body map[string]any) {
				checkResponseFormat(t, body, schema, false)
				if got := body["tool_choice"]; got != nil {
					t.Errorf("tool_choice %v, want the default (auto)", got)
				}
			}},
		{"anthropic", "anthropic/claude-sonnet-4-0", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", fakellm.Turn{Calls: fakellm.Calls("extract", `{"year":1843}`)},
			func(t *testing.T, body map[string]any) {
				if !reflect.DeepEqual(body["tool_choice"], map[string]any{"type": "any"}) {
					t.Errorf("tool_choice %v, want any", body["tool_choice"])
				}
				sent, _ := body["tools"].([]any)
				if len(sent) != 2 {
					t.Fatalf("tools %v, want lookup and the answer tool", body["tools"])
				}
				answer, _ := sent[1].(map[string]any)
				if answer["name"] != "extract" || !reflect.DeepEqual(answer["input_schema"], asJSON(t, schema)) {
					t.Errorf("answer tool %v", answer)
				}
			}},
	} {
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			// Turn 1 calls lookup (and, on Anthropic, answers too early);
			// turn 2 answers.
			first := fakellm.Turn{Calls: fakellm.Calls("lookup", `{}`)}
			if tt.protocol == "anthropic" {
				first.Calls = fakellm.Calls("lookup", `{}`, "extract", `{"year":0}`)
			}
			srv := fakellm.New(tt.protocol, first, tt.answer)
			defer srv.Close()
			c := New(Registry{}, Options{Getenv: envOf(map[string]string{tt.keyVar: "sk-test-123456789", tt.baseVar: srv.URL})})
			req := Request{Model: tt.model, Messages: []Message{{Role: "user", Content: "When?"}}, Tools: tools, Schema: json.RawMessage(schema), SchemaName: "extract"}
			resp, err := c.Call(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != "lookup" || resp.Text != "" {
				t.Fatalf("first turn: text %q, calls %+v; want lookup alone", resp.Text, resp.ToolCalls)
			}
			tt.check(t, srv.Requests()[0].Body)
			req.Messages = append(req.Messages, Message{Role: "assistant", ToolCalls: resp.ToolCalls},
				Message{Role: "tool", ToolCallID: resp.ToolCalls[0].ID, Content: "1843"})
			if resp, err = c.Call(t.Context(), req); err != nil {
				t.Fatalf("second turn: %v (requests %+v)", err, srv.Requests())
			}
			if len(resp.ToolCalls) != 0 || !reflect.DeepEqual(asJSON(t, resp.Text), asJSON(t, `{"year":1843}`)) {
				t.Fatalf("second turn: text %q, calls %+v; want the answer", resp.Text, resp.ToolCalls)
			}
		})
	}
}

// The answer tool steps aside from a tool of the step's own name.
func TestAnswerToolName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		schema string
		tools  []string
		want   string
	}{
		{"extract", nil, "extract"},
		{"extract", []string{"lookup"}, "extract"},
		{"lookup", []string{"lookup"}, "lookup_answer"},
		{"lookup", []string{"lookup", "lookup_answer"}, "lookup_answer_answer"},
		{strings.Repeat("a", 64), []string{strings.Repeat("a", 64)}, strings.Repeat("a", 57) + "_answer"},
	} {
		req := Request{SchemaName: tt.schema}
		for _, n := range tt.tools {
			req.Tools = append(req.Tools, Tool{Name: n})
		}
		if got := answerToolName(req); got != tt.want {
			t.Errorf("answerToolName(%s, %v) = %q, want %q", tt.schema, tt.tools, got, tt.want)
		}
	}
}
