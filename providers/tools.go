package providers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// Tool is a function a model may call: its name, what it does, and the
// JSON Schema of its arguments (an object).
type Tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters"`
}

// ToolCall is one call a model asked for. Arguments is the JSON text the
// model wrote, kept as it was so that it is sent back unchanged.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// toMessages turns a conversation into langchaingo's messages for
// provider.
//
// Anthropic's client (langchaingo v0.1.14) sends only the first part of an
// assistant message, so an assistant turn that asked for several tools is
// sent as one message per part; the Messages API joins consecutive
// messages of one role into one turn, which gives the request the model
// wrote. Each tool result is a message of its own for the same reason.
func toMessages(provider string, msgs []Message) []llms.MessageContent {
	out := make([]llms.MessageContent, 0, len(msgs))
	for _, m := range msgs {
		switch {
		case m.Role == "tool":
			out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeTool,
				Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: m.ToolCallID, Content: m.Content}}})
		case m.Role == "assistant" && len(m.ToolCalls) > 0:
			var parts []llms.ContentPart
			if m.Content != "" {
				parts = append(parts, llms.TextContent{Text: m.Content})
			}
			for _, c := range m.ToolCalls {
				args := c.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				parts = append(parts, llms.ToolCall{ID: c.ID, Type: "function", FunctionCall: &llms.FunctionCall{Name: c.Name, Arguments: args}})
			}
			if provider != "anthropic" {
				out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: parts})
				continue
			}
			for _, p := range parts {
				out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{p}})
			}
		default:
			role := llms.ChatMessageTypeHuman
			switch m.Role {
			case "system":
				role = llms.ChatMessageTypeSystem
			case "assistant":
				role = llms.ChatMessageTypeAI
			}
			out = append(out, llms.TextParts(role, m.Content))
		}
	}
	return out
}

// toolOptions offers the request's tools to the model, and extra (the
// answer tool of a schema) after them.
func toolOptions(tools []Tool, extra ...llms.Tool) []llms.CallOption {
	if len(tools)+len(extra) == 0 {
		return nil
	}
	lt := make([]llms.Tool, 0, len(tools)+len(extra))
	for _, t := range tools {
		lt = append(lt, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	return []llms.CallOption{llms.WithTools(append(lt, extra...))}
}

// toolCallsOf reads the calls an answer asked for: Anthropic's come one
// per content block (langchaingo makes each a choice), the others' in the
// first choice.
func toolCallsOf(provider string, choices []*llms.ContentChoice) ([]ToolCall, error) {
	if provider != "anthropic" {
		choices = choices[:1]
	}
	var out []ToolCall
	for _, ch := range choices {
		for _, c := range ch.ToolCalls {
			if c.FunctionCall == nil {
				return nil, fmt.Errorf("the model asked for a tool call of type %q without a function, which kitaru cannot run", c.Type)
			}
			out = append(out, ToolCall{ID: c.ID, Name: c.FunctionCall.Name, Arguments: c.FunctionCall.Arguments})
		}
	}
	return out, nil
}

// mockToolCalls is what the mock asks for when tools are offered and no
// tool has answered yet: every tool once, with arguments made from its
// parameters (see exampleOf), so that a flow's tool loop runs offline.
func mockToolCalls(req Request) []ToolCall {
	if len(req.Tools) == 0 || slices.ContainsFunc(req.Messages, func(m Message) bool { return m.Role == "tool" }) {
		return nil
	}
	out := make([]ToolCall, 0, len(req.Tools))
	for i, t := range req.Tools {
		args, err := json.Marshal(exampleOf(t.Parameters))
		if err != nil {
			args = []byte("{}")
		}
		out = append(out, ToolCall{ID: fmt.Sprintf("mock-call-%d", i+1), Name: t.Name, Arguments: string(args)})
	}
	return out
}

// exampleOf is a value that fits a schema, for the mock: the schema's
// default, else its first example or enum value, else a placeholder of its
// type; an object holds its required properties (all of them when it
// names none).
func exampleOf(schema map[string]any) any {
	if v, ok := schema["default"]; ok {
		return v
	}
	if ex, ok := schema["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	if en, ok := schema["enum"].([]any); ok && len(en) > 0 {
		return en[0]
	}
	if c, ok := schema["const"]; ok {
		return c
	}
	ty, _ := schema["type"].(string)
	switch ty {
	case "string":
		return "example"
	case "number", "integer":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "null":
		return nil
	}
	out := map[string]any{}
	props, _ := schema["properties"].(map[string]any)
	req, _ := schema["required"].([]any)
	for name, p := range props {
		ps, _ := p.(map[string]any)
		if len(req) > 0 && !slices.Contains(req, any(name)) {
			continue
		}
		out[name] = exampleOf(ps)
	}
	return out
}
