package providers

import (
	"encoding/json"
	"reflect"
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
