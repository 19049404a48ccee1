// Package fakellm is a scripted model server for tests: it speaks OpenAI
// chat completions (tools, tool_calls) and Anthropic messages (tool_use,
// tool_result), answers each request with the script's turn for the
// conversation it carries (the number of assistant turns in it), checks
// that every tool result answers a call of the turn before, and logs every
// request. A request that asks for a stream gets server-sent events (see
// stream.go), the parallel calls of a turn streamed interleaved.
package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Call is one tool call a scripted turn asks for; Args is its JSON text.
type Call struct {
	Name, Args string
}

// Turn is one scripted answer: text, tool calls, or both.
type Turn struct {
	Text  string
	Calls []Call
}

// Request is one request the server received.
type Request struct {
	Turn int // the scripted turn it asked for, from 1
	// Results are the tool results it carried, by call id.
	Results map[string]string
	Tools   []string       // the names of the tools offered
	Stream  bool           // it asked for a stream
	Err     string         // why it was refused, "" when it was answered
	Body    map[string]any // the request as sent
}

// Server is a running fake.
type Server struct {
	URL      string
	Protocol string // "openai" or "anthropic"
	// Whole: a request that asks for a stream gets the whole JSON
	// answer, as from servers that ignore "stream". Set before the first
	// request.
	Whole bool
	// Pause, when set, is called in a streamed turn once its first word
	// is sent, before the rest: a test sees the text arrive while the
	// call is still under way. Set before the first request.
	Pause  func(turn int)
	srv    *httptest.Server
	script []Turn
	mu     sync.Mutex
	log    []Request
}

// New starts a server speaking protocol with script. Close it when done.
func New(protocol string, script ...Turn) *Server {
	s := &Server{Protocol: protocol, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	if protocol == "openai" {
		s.URL += "/v1"
	}
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests is every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Asked counts the requests for each turn.
func (s *Server) Asked() map[int]int {
	out := map[int]int{}
	for _, r := range s.Requests() {
		out[r.Turn]++
	}
	return out
}

// CallID is the id the server gives call i (from 1) of turn t.
func CallID(t, i int) string { return fmt.Sprintf("call_%d_%d", t, i) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req Request
	var err error
	if s.Protocol == "anthropic" {
		req, err = anthropicRequest(body)
	} else {
		req, err = openAIRequest(body)
	}
	if err == nil && (req.Turn < 1 || req.Turn > len(s.script)) {
		err = fmt.Errorf("turn %d is not in the script of %d turns", req.Turn, len(s.script))
	}
	if err != nil {
		req.Err = err.Error()
	}
	req.Body = body
	req.Stream, _ = body["stream"].(bool)
	s.mu.Lock()
	s.log = append(s.log, req)
	s.mu.Unlock()
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": err.Error()}})
		return
	}
	turn := s.script[req.Turn-1]
	if req.Stream && !s.Whole {
		s.stream(w, req.Turn, turn)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.Protocol == "anthropic" {
		_ = json.NewEncoder(w).Encode(anthropicAnswer(req.Turn, turn))
	} else {
		_ = json.NewEncoder(w).Encode(openAIAnswer(req.Turn, turn))
	}
}

func openAIRequest(body map[string]any) (Request, error) {
	req := Request{Turn: 1, Results: map[string]string{}}
	for _, t := range list(body["tools"]) {
		fn, _ := obj(t)["function"].(map[string]any)
		req.Tools = append(req.Tools, str(fn["name"]))
	}
	pending := map[string]bool{}
	for _, m := range list(body["messages"]) {
		msg := obj(m)
		switch str(msg["role"]) {
		case "assistant":
			if len(pending) > 0 {
				return req, fmt.Errorf("an assistant message follows tool calls without results: %v", pending)
			}
			req.Turn++
			for _, c := range list(msg["tool_calls"]) {
				pending[str(obj(c)["id"])] = true
			}
		case "tool":
			id := str(msg["tool_call_id"])
			if !pending[id] {
				return req, fmt.Errorf("a tool message answers %q, which the turn before did not call", id)
			}
			delete(pending, id)
			req.Results[id] = str(msg["content"])
		default:
			if len(pending) > 0 {
				return req, fmt.Errorf("a %s message follows tool calls without results", str(msg["role"]))
			}
		}
	}
	if len(pending) > 0 {
		return req, fmt.Errorf("tool calls without results: %v", pending)
	}
	return req, nil
}

func anthropicRequest(body map[string]any) (Request, error) {
	req := Request{Turn: 1, Results: map[string]string{}}
	for _, t := range list(body["tools"]) {
		req.Tools = append(req.Tools, str(obj(t)["name"]))
	}
	pending := map[string]bool{}
	last := ""
	for _, m := range list(body["messages"]) {
		msg := obj(m)
		role := str(msg["role"])
		if role == "assistant" && last != "assistant" {
			if len(pending) > 0 {
				return req, fmt.Errorf("an assistant turn follows tool_use blocks without results: %v", pending)
			}
			req.Turn++
		}
		for _, b := range list(msg["content"]) {
			block := obj(b)
			switch str(block["type"]) {
			case "tool_use":
				if role != "assistant" {
					return req, fmt.Errorf("tool_use in a %s message", role)
				}
				pending[str(block["id"])] = true
			case "tool_result":
				id := str(block["tool_use_id"])
				if role != "user" || !pending[id] {
					return req, fmt.Errorf("a tool_result answers %q, which the assistant turn before did not use", id)
				}
				delete(pending, id)
				req.Results[id] = str(block["content"])
			case "text":
				if str(block["text"]) == "" {
					return req, fmt.Errorf("text content blocks must be non-empty")
				}
			}
		}
		last = role
	}
	if len(pending) > 0 {
		return req, fmt.Errorf("tool_use blocks without results: %v", pending)
	}
	return req, nil
}

func openAIAnswer(t int, turn Turn) map[string]any {
	msg := map[string]any{"role": "assistant", "content": turn.Text}
	finish := "stop"
	if len(turn.Calls) > 0 {
		finish = "tool_calls"
		var calls []any
		for i, c := range turn.Calls {
			calls = append(calls, map[string]any{"id": CallID(t, i+1), "type": "function",
				"function": map[string]any{"name": c.Name, "arguments": c.Args}})
		}
		msg["tool_calls"] = calls
	}
	return map[string]any{"id": fmt.Sprint("chatcmpl-", t), "object": "chat.completion", "model": "fake",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 10 * t, "completion_tokens": 5, "total_tokens": 10*t + 5}}
}

func anthropicAnswer(t int, turn Turn) map[string]any {
	var content []any
	if turn.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": turn.Text})
	}
	stop := "end_turn"
	for i, c := range turn.Calls {
		stop = "tool_use"
		var input any
		if err := json.Unmarshal([]byte(c.Args), &input); err != nil {
			input = map[string]any{}
		}
		content = append(content, map[string]any{"type": "tool_use", "id": CallID(t, i+1), "name": c.Name, "input": input})
	}
	return map[string]any{"id": fmt.Sprint("msg_", t), "type": "message", "role": "assistant", "model": "fake",
		"content": content, "stop_reason": stop, "usage": map[string]any{"input_tokens": 10 * t, "output_tokens": 5}}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		// A tool_result's content may be blocks of text.
		var b strings.Builder
		for _, e := range x {
			b.WriteString(str(obj(e)["text"]))
		}
		return b.String()
	}
	return ""
}

// Calls makes calls from name and arguments pairs: Calls("add", `{"a":1}`).
func Calls(nameArgs ...string) []Call {
	var out []Call
	for i := 0; i+1 < len(nameArgs); i += 2 {
		out = append(out, Call{Name: nameArgs[i], Args: nameArgs[i+1]})
	}
	return out
}
