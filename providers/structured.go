package providers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/tmc/langchaingo/llms"
)

// structured is how one call asks for an answer that follows a JSON
// Schema, in the provider's own structured-output form:
//
//   - OpenAI chat completions (openai, openrouter, and every other server
//     spoken to through the OpenAI client): response_format {type:
//     json_schema, json_schema: {name, schema, strict}}.
//   - Anthropic: a tool whose input_schema is the schema, forced with
//     tool_choice; the tool call's input is the answer. Offered beside a
//     step's own tools, it is one more tool and tool_choice is any: each
//     turn calls tools, or answers by calling this one (a call of it
//     beside other tools is dropped: the loop goes on with their results).
//   - Ollama: format, set to the schema.
//
// langchaingo v0.1.14 cannot say all of this for one call: its OpenAI
// client takes a response format per client, not per call, and its schema
// type holds only a few keywords (no minimum, pattern, anyOf, const or
// $defs, and additionalProperties: false forced on every property); its
// Anthropic request has no tool_choice; its Ollama format is a string
// ("json"). So those fields are set in the request body by the call's
// transport, where kitaru already edits what langchaingo sends; the
// Anthropic tool itself goes through langchaingo, which also reads the
// tool call back.
type structured struct {
	name string
	// wrapped: the schema is not an object's, which OpenAI and Anthropic
	// require at the top; it is sent as the one property of an object
	// and the answer taken out of it.
	wrapped bool
	set     map[string]json.RawMessage // top-level fields of the request body
	tool    *llms.Tool                 // Anthropic's answer tool, offered with the request's
}

// wrapKey is the property a wrapped schema's answer is sent under.
const wrapKey = "answer"

// structuredFor is what a call of req to provider adds for its schema; nil
// when it has none.
func structuredFor(provider string, req Request) (*structured, error) {
	if len(req.Schema) == 0 {
		return nil, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(req.Schema, &doc); err != nil {
		return nil, permanent(fmt.Errorf("the schema is not a JSON object: %w", err))
	}
	s := &structured{name: answerToolName(req)}
	if provider == "ollama" {
		s.set = map[string]json.RawMessage{"format": req.Schema}
		return s, nil
	}
	schema := req.Schema
	if doc["type"] != "object" {
		s.wrapped = true
		doc = map[string]any{"type": "object", "properties": map[string]any{wrapKey: doc},
			"required": []any{wrapKey}, "additionalProperties": false}
		schema, _ = json.Marshal(doc) // it was JSON a moment ago
	}
	if provider == "anthropic" {
		s.tool = &llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name:        s.name,
			Description: "Give your answer by calling this tool: its input is the answer.",
			Parameters:  schema,
		}}
		choice := map[string]string{"type": "tool", "name": s.name}
		if len(req.Tools) > 0 {
			choice = map[string]string{"type": "any"}
			s.tool.Function.Description = "Give your final answer by calling this tool, alone, once the other tools have told you what you need: its input is the answer."
		}
		s.set = map[string]json.RawMessage{"tool_choice": mustJSON(choice)}
		return s, nil
	}
	format := map[string]any{"type": "json_schema", "json_schema": map[string]any{
		"name": s.name, "schema": schema, "strict": strictable(doc, true),
	}}
	s.set = map[string]json.RawMessage{"response_format": mustJSON(format)}
	return s, nil
}

// answer is the answer's text; with a schema (s not nil), JSON text: the
// forced tool's input (Anthropic) or the message (the others), out of its
// wrapper when it was wrapped.
func (s *structured) answer(provider string, choices []*llms.ContentChoice) string {
	if s == nil {
		return textOf(provider, choices)
	}
	text, found, others := "", false, false
	if s.tool != nil {
		for _, ch := range choices {
			for _, tc := range ch.ToolCalls {
				switch {
				case tc.FunctionCall == nil || tc.FunctionCall.Name != s.name:
					others = true
				case !found:
					text, found = tc.FunctionCall.Arguments, true
				}
			}
		}
	}
	if others {
		return textOf(provider, choices) // a tool turn: the loop goes on
	}
	if !found {
		// A model that answered in words after all: its words are
		// validated, and refused, as any other answer.
		text = textOf(provider, choices)
	}
	if s.wrapped {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(text), &m) == nil && len(m) == 1 && m[wrapKey] != nil {
			return string(m[wrapKey])
		}
	}
	return text
}

// calls are the tool calls of an answer without the answer tool's.
func (s *structured) calls(calls []ToolCall) []ToolCall {
	if s == nil || s.tool == nil {
		return calls
	}
	return slices.DeleteFunc(calls, func(c ToolCall) bool { return c.Name == s.name })
}

// answerTool names the tool whose input is the answer, "" for none.
func (s *structured) answerTool() string {
	if s == nil || s.tool == nil {
		return ""
	}
	return s.name
}

// extraTools are the tools the schema adds to the request's.
func (s *structured) extraTools() []llms.Tool {
	if s == nil || s.tool == nil {
		return nil
	}
	return []llms.Tool{*s.tool}
}

// answerToolName is the schema's name, unless one of the request's tools
// has it: then the answer tool (Anthropic) is told apart by a suffix.
func answerToolName(req Request) string {
	name := schemaName(req.SchemaName)
	for slices.ContainsFunc(req.Tools, func(t Tool) bool { return t.Name == name }) {
		name = schemaName(name[:min(len(name), 64-len("_answer"))] + "_answer")
	}
	return name
}

var schemaNameRE = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// schemaName is name as OpenAI and Anthropic accept one: letters, digits,
// _ and -, at most 64.
func schemaName(name string) string {
	name = schemaNameRE.ReplaceAllString(name, "_")
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		return wrapKey
	}
	return name
}

// strictable says whether OpenAI's strict mode takes the schema as it is:
// every object lists all its properties in required and forbids others,
// every schema says what it is, and no keyword strict mode refuses is
// used. Any other schema is sent with strict false (which OpenAI takes
// whatever it holds); the answer is validated here either way.
func strictable(v any, top bool) bool {
	s, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, k := range []string{"allOf", "oneOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
		"patternProperties", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contains"} {
		if _, ok := s[k]; ok {
			return false
		}
	}
	if _, ok := s["anyOf"]; ok && top {
		return false
	}
	says := false
	for _, k := range []string{"type", "anyOf", "$ref", "enum", "const"} {
		if _, ok := s[k]; ok {
			says = true
		}
	}
	if !says {
		return false
	}
	props, _ := s["properties"].(map[string]any)
	if isType(s["type"], "object") || props != nil {
		if s["additionalProperties"] != false {
			return false
		}
		req, _ := s["required"].([]any)
		for name, p := range props {
			if !slices.Contains(req, any(name)) || !strictable(p, false) {
				return false
			}
		}
	}
	for _, k := range []string{"$defs", "definitions"} {
		defs, _ := s[k].(map[string]any)
		for _, d := range defs {
			if !strictable(d, false) {
				return false
			}
		}
	}
	if it, ok := s["items"]; ok && !strictable(it, false) {
		return false
	}
	for _, k := range []string{"anyOf", "prefixItems"} {
		list, _ := s[k].([]any)
		for _, sub := range list {
			if !strictable(sub, false) {
				return false
			}
		}
	}
	return true
}

// isType: a schema's type is want, alone or in a list.
func isType(t any, want string) bool {
	switch t := t.(type) {
	case string:
		return t == want
	case []any:
		return slices.Contains(t, any(want))
	}
	return false
}

// mustJSON encodes a value made of maps, strings and raw JSON, which
// cannot fail.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
