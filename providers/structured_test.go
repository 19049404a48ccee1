package providers

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const founderSchema = `{"type":"object","properties":{"name":{"type":"string"},"year":{"type":"integer","minimum":1800}},"required":["name","year"]}`

// asJSON decodes JSON text for comparing with a request body's parts.
func asJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Each provider is sent the schema in its own structured-output form, as
// the real langchaingo clients put it on the wire, and the answer comes
// back as JSON text: for Anthropic, the forced tool call's input.
func TestStructuredOutputOnTheWire(t *testing.T) {
	t.Parallel()
	openAIAnswer := `{"id":"c1","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\":\"Ada\",\"year\":1843}"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":21,"completion_tokens":8,"total_tokens":29}}`
	anthropicAnswer := `{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-0",
		"content":[{"type":"tool_use","id":"toolu_1","name":"extract","input":{"name":"Ada","year":1843}}],
		"stop_reason":"tool_use","usage":{"input_tokens":30,"output_tokens":9}}`
	ollamaAnswer := `{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"{\"name\":\"Ada\",\"year\":1843}"},"done":true,"prompt_eval_count":9,"eval_count":4}`
	tests := []struct {
		model, reply string
		env          func(url string) map[string]string
		check        func(t *testing.T, body map[string]any)
		usage        Usage
	}{
		{"openai/gpt-4o-mini", openAIAnswer, func(u string) map[string]string {
			return map[string]string{"OPENAI_BASE_URL": u + "/v1", "OPENAI_API_KEY": "sk-test"}
		},
			func(t *testing.T, body map[string]any) { checkResponseFormat(t, body, founderSchema, false) }, Usage{21, 8}},
		{"openrouter/openai/gpt-4o-mini", openAIAnswer, func(u string) map[string]string {
			return map[string]string{"OPENROUTER_BASE_URL": u + "/api/v1", "OPENROUTER_API_KEY": "sk-test"}
		},
			func(t *testing.T, body map[string]any) { checkResponseFormat(t, body, founderSchema, false) }, Usage{21, 8}},
		{"anthropic/claude-sonnet-4-0", anthropicAnswer, func(u string) map[string]string {
			return map[string]string{"ANTHROPIC_BASE_URL": u, "ANTHROPIC_API_KEY": "sk-test"}
		},
			func(t *testing.T, body map[string]any) { checkForcedTool(t, body, founderSchema) }, Usage{30, 9}},
		{"ollama/llama3.2", ollamaAnswer, func(u string) map[string]string { return map[string]string{"OLLAMA_HOST": u} },
			func(t *testing.T, body map[string]any) {
				if !reflect.DeepEqual(body["format"], asJSON(t, founderSchema)) {
					t.Errorf("format = %v, want the schema", body["format"])
				}
			}, Usage{9, 4}},
	}
	for _, tt := range tests {
		t.Run(strings.Split(tt.model, "/")[0], func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply{body: tt.reply})
			c := New(Registry{}, Options{Getenv: envOf(tt.env(f.URL))})
			resp, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs(), Schema: json.RawMessage(founderSchema), SchemaName: "extract"})
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			tt.check(t, reqs[0].Body)
			if !reflect.DeepEqual(asJSON(t, resp.Text), asJSON(t, `{"name":"Ada","year":1843}`)) {
				t.Errorf("answer %q, want the JSON the model gave", resp.Text)
			}
			if resp.Usage != tt.usage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tt.usage)
			}
		})
	}
}

func checkResponseFormat(t *testing.T, body map[string]any, schema string, strict bool) {
	t.Helper()
	rf, _ := body["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["name"] != "extract" || js["strict"] != strict {
		t.Errorf("response_format = %v, want type json_schema, name extract, strict %v", body["response_format"], strict)
	}
	if !reflect.DeepEqual(js["schema"], asJSON(t, schema)) {
		t.Errorf("response_format schema = %v, want %s", js["schema"], schema)
	}
}

func checkForcedTool(t *testing.T, body map[string]any, schema string) {
	t.Helper()
	tools, _ := body["tools"].([]any)
	if len(tools) != 1 {
		t.Fatalf("tools = %v, want the one answer tool", body["tools"])
	}
	tool, _ := tools[0].(map[string]any)
	if tool["name"] != "extract" || !reflect.DeepEqual(tool["input_schema"], asJSON(t, schema)) {
		t.Errorf("tool = %v, want extract with the schema as input_schema", tool)
	}
	if !reflect.DeepEqual(body["tool_choice"], map[string]any{"type": "tool", "name": "extract"}) {
		t.Errorf("tool_choice = %v, want the tool forced", body["tool_choice"])
	}
}

// The schema is the call's, not the client's: one caller sends each call
// its own schema, and a call without one asks for no format at all.
func TestStructuredOutputIsPerCall(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{body: openAIReply})
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "sk-test"})})
	other := `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}`
	for _, schema := range []string{founderSchema, other, ""} {
		req := Request{Model: "openai/gpt-4o-mini", Messages: msgs(), SchemaName: "extract"}
		if schema != "" {
			req.Schema = json.RawMessage(schema)
		}
		if _, err := c.Call(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	reqs := f.requests()
	checkResponseFormat(t, reqs[0].Body, founderSchema, false)
	checkResponseFormat(t, reqs[1].Body, other, true)
	if rf, ok := reqs[2].Body["response_format"]; ok {
		t.Errorf("a call without a schema sent response_format %v", rf)
	}
}

// A schema whose top is not an object (a list of names) goes to OpenAI
// and Anthropic, which want an object there, as the one property of an
// object; the answer is taken back out.
func TestStructuredOutputWrapsOtherSchemas(t *testing.T) {
	t.Parallel()
	list := `{"type":"array","items":{"type":"string"}}`
	wrapped := `{"type":"object","properties":{"answer":` + list + `},"required":["answer"],"additionalProperties":false}`
	t.Run("openai", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply{body: `{"id":"c1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"{\"answer\": [\"Ada\", \"Charles\"]}"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`})
		c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "sk-test"})})
		resp, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o", Messages: msgs(), Schema: json.RawMessage(list), SchemaName: "extract"})
		if err != nil {
			t.Fatal(err)
		}
		checkResponseFormat(t, f.requests()[0].Body, wrapped, true)
		if resp.Text != `["Ada", "Charles"]` {
			t.Errorf("answer %q, want the list out of its wrapper", resp.Text)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply{body: `{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-0",
			"content":[{"type":"text","text":"Here it is."},{"type":"tool_use","id":"toolu_1","name":"extract","input":{"answer":["Ada","Charles"]}}],
			"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":2}}`})
		c := New(Registry{}, Options{Getenv: envOf(map[string]string{"ANTHROPIC_BASE_URL": f.URL, "ANTHROPIC_API_KEY": "sk-test"})})
		resp, err := c.Call(context.Background(), Request{Model: "anthropic/claude-sonnet-4-0", Messages: msgs(), Schema: json.RawMessage(list), SchemaName: "extract"})
		if err != nil {
			t.Fatal(err)
		}
		checkForcedTool(t, f.requests()[0].Body, wrapped)
		if resp.Text != `["Ada","Charles"]` {
			t.Errorf("answer %q, want the tool input's list, without the text beside it", resp.Text)
		}
	})
}

// An Anthropic model that answers in words despite the forced tool: its
// words are the answer, for the caller to refuse.
func TestStructuredOutputAnthropicWithoutToolCall(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{body: anthropicReply})
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"ANTHROPIC_BASE_URL": f.URL, "ANTHROPIC_API_KEY": "sk-test"})})
	resp, err := c.Call(context.Background(), Request{Model: "anthropic/claude-sonnet-4-0", Messages: msgs(), Schema: json.RawMessage(founderSchema)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "hello from anthropic" {
		t.Errorf("answer %q, want the text", resp.Text)
	}
	if tc, _ := f.requests()[0].Body["tool_choice"].(map[string]any); tc["name"] != "answer" {
		t.Errorf("tool_choice %v, want the tool named answer for a schema without a name", tc)
	}
}

func TestStrictable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		schema string
		want   bool
	}{
		{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, true},
		{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, false},
		{`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"],"additionalProperties":false}`, false},
		{`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"required":["b"]}},"required":["a"],"additionalProperties":false}`, false},
		{`{"type":"object","properties":{"a":{"type":"array","items":{"type":"string"}}},"required":["a"],"additionalProperties":false}`, true},
		{`{"type":"object","properties":{"a":{"type":"array","items":{}}},"required":["a"],"additionalProperties":false}`, false},
		{`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["a"],"additionalProperties":false}`, true},
		{`{"anyOf":[{"type":"string"},{"type":"null"}]}`, false},
		{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false,"allOf":[{}]}`, false},
		{`{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"required":["a"],"additionalProperties":false,"$defs":{"x":{"type":"object"}}}`, false},
	}
	for _, tt := range tests {
		if got := strictable(asJSON(t, tt.schema), true); got != tt.want {
			t.Errorf("strictable(%s) = %v, want %v", tt.schema, got, tt.want)
		}
	}
}

func TestSchemaName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "answer", "extract": "extract", "my-step_2": "my-step_2", "a.b c": "a_b_c", strings.Repeat("x", 70): strings.Repeat("x", 64)} {
		if got := schemaName(in); got != want {
			t.Errorf("schemaName(%q) = %q, want %q", in, got, want)
		}
	}
}
