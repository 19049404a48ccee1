package providers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// TestStreamedToolTurns: a turn that offers tools streams, and what it
// returns (text, every tool call whole and in order, usage, cost) is what
// the same turn returns unstreamed. The fake streams the argument pieces of
// parallel calls interleaved, told apart by index only: langchaingo's
// OpenAI client appends each piece to the last call opened.
func TestStreamedToolTurns(t *testing.T) {
	t.Parallel()
	lookup := Tool{Name: "lookup", Description: "Population.", Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}
	schema := json.RawMessage(`{"type":"object","properties":{"year":{"type":"integer"}},"required":["year"]}`)
	parallel := fakellm.Turn{Text: "Looking both up.", Calls: fakellm.Calls("lookup", `{"city":"Paris","country":"France"}`, "lookup", `{"city":"Rome"}`)}
	wire := []struct{ protocol, model, keyVar, baseVar string }{
		{"openai", "openai/gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL"},
		{"anthropic", "anthropic/claude-sonnet-4-0", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"},
	}
	tests := []struct {
		name     string
		protocol string // "": both
		turn     fakellm.Turn
		schema   json.RawMessage
		want     Response // Text and ToolCalls
		shown    string   // the text streamed; "": the turn's text
	}{
		{name: "parallel calls", turn: parallel, want: Response{Text: "Looking both up.", ToolCalls: []ToolCall{
			{fakellm.CallID(1, 1), "lookup", `{"city":"Paris","country":"France"}`}, {fakellm.CallID(1, 2), "lookup", `{"city":"Rome"}`}}}},
		{name: "three calls, no text", turn: fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Oslo"}`, "lookup", `{}`, "lookup", `{"city":"Lima, Peru"}`)},
			want: Response{ToolCalls: []ToolCall{{fakellm.CallID(1, 1), "lookup", `{"city":"Oslo"}`}, {fakellm.CallID(1, 2), "lookup", `{}`}, {fakellm.CallID(1, 3), "lookup", `{"city":"Lima, Peru"}`}}}},
		{name: "text answer", turn: fakellm.Turn{Text: "Paris has 2.1 million people."}, want: Response{Text: "Paris has 2.1 million people."}},
		// OpenAI: the tools beside response_format; the answer is text.
		{name: "schema answer", protocol: "openai", turn: fakellm.Turn{Text: `{"year": 1843}`}, schema: schema, want: Response{Text: `{"year": 1843}`}},
		{name: "schema and parallel calls", protocol: "openai", turn: parallel, schema: schema, want: Response{Text: "Looking both up.", ToolCalls: []ToolCall{
			{fakellm.CallID(1, 1), "lookup", `{"city":"Paris","country":"France"}`}, {fakellm.CallID(1, 2), "lookup", `{"city":"Rome"}`}}}},
		// Anthropic: the answer is the forced answer tool's input, which
		// streams as text; beside other calls it is dropped (it was shown).
		{name: "schema answer", protocol: "anthropic", turn: fakellm.Turn{Calls: fakellm.Calls("extract", `{"year":1843}`)}, schema: schema, want: Response{Text: `{"year":1843}`}, shown: `{"year":1843}`},
		{name: "schema and parallel calls", protocol: "anthropic", turn: fakellm.Turn{Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "extract", `{"year":0}`, "lookup", `{"city":"Rome"}`)}, schema: schema,
			want: Response{ToolCalls: []ToolCall{{fakellm.CallID(1, 1), "lookup", `{"city":"Paris"}`}, {fakellm.CallID(1, 3), "lookup", `{"city":"Rome"}`}}}, shown: `{"year":0}`},
	}
	for _, w := range wire {
		for _, tt := range tests {
			for _, whole := range []bool{false, true} {
				if tt.protocol != "" && tt.protocol != w.protocol {
					continue
				}
				name := w.protocol + "/" + tt.name
				if whole {
					// A server that answers a stream request whole.
					name += "/whole"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					srv := fakellm.New(w.protocol, tt.turn)
					srv.Whole = whole
					defer srv.Close()
					c := New(Registry{}, Options{Getenv: envOf(map[string]string{w.keyVar: "sk-test-123456789", w.baseVar: srv.URL})})
					req := Request{Model: w.model, Messages: []Message{{Role: "user", Content: "Paris and Rome?"}}, Tools: []Tool{lookup}}
					if tt.schema != nil {
						req.Schema, req.SchemaName = tt.schema, "extract"
					}
					plain, err := c.Call(t.Context(), req)
					if err != nil {
						t.Fatalf("unstreamed: %v", err)
					}
					var chunks []string
					streamed, err := c.Call(WithStream(t.Context(), Stream{Text: func(s string) { chunks = append(chunks, s) }}), req)
					if err != nil {
						t.Fatalf("streamed: %v", err)
					}
					if got := srv.Requests(); len(got) != 2 || got[0].Stream || !got[1].Stream {
						t.Fatalf("requests streamed: %v then %v, want false then true", got[0].Stream, got[len(got)-1].Stream)
					}
					for _, r := range []struct {
						how  string
						resp *Response
					}{{"unstreamed", plain}, {"streamed", streamed}} {
						if r.resp.Text != tt.want.Text || (len(r.resp.ToolCalls) > 0 || len(tt.want.ToolCalls) > 0) && !reflect.DeepEqual(r.resp.ToolCalls, tt.want.ToolCalls) {
							t.Errorf("%s: text %q, calls %+v; want %q, %+v", r.how, r.resp.Text, r.resp.ToolCalls, tt.want.Text, tt.want.ToolCalls)
						}
					}
					if plain.Usage != streamed.Usage || plain.Usage.InputTokens != 10 || plain.Usage.OutputTokens != 5 {
						t.Errorf("usage %+v unstreamed, %+v streamed; want {10 5} both", plain.Usage, streamed.Usage)
					}
					if plain.CostUSD == nil || streamed.CostUSD == nil || *plain.CostUSD != *streamed.CostUSD {
						t.Errorf("cost %v unstreamed, %v streamed; want the same", plain.CostUSD, streamed.CostUSD)
					}
					// The text the model wrote streams, in pieces; tool calls'
					// arguments are not text.
					shown := cmpOr(tt.shown, tt.turn.Text)
					if got := strings.Join(chunks, ""); got != shown || (shown != "" && !whole && len(chunks) < 2) {
						t.Errorf("streamed text %q, want %q in pieces", chunks, shown)
					}
				})
			}
		}
	}
}
