package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// A streamed turn is sent the way the providers stream: text a word at a
// time, then the tool calls, each opened with its id and name and its
// arguments sent a few characters at a time. The argument pieces of
// parallel calls are interleaved (call 1's first, call 2's first, call 1's
// second, …): the protocols tell the calls apart by index (OpenAI's
// tool_calls[].index, Anthropic's content block index), and a client that
// appends a piece to the last call opened instead is caught.

// argPiece is how many characters of a call's arguments one event carries.
const argPiece = 4

// pieces cuts s into pieces of at most n runes; none for "".
func pieces(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		k := min(n, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}

// words cuts s after each space, so that the pieces joined are s.
func words(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// interleaved calls f(call, piece) for the argument pieces of every call,
// round robin: the first piece of each, then the second of each, ….
func interleaved(args []string, f func(call int, piece string)) {
	split := make([][]string, len(args))
	longest := 0
	for i, a := range args {
		split[i] = pieces(a, argPiece)
		longest = max(longest, len(split[i]))
	}
	for k := range longest {
		for i := range split {
			if k < len(split[i]) {
				f(i, split[i][k])
			}
		}
	}
}

type sse struct {
	w     http.ResponseWriter
	fl    http.Flusher
	pause func() // after the first word
}

func (e sse) send(event string, v any) {
	data, _ := json.Marshal(v) // the fake's own values always marshal
	if event != "" {
		fmt.Fprintf(e.w, "event: %s\n", event)
	}
	fmt.Fprintf(e.w, "data: %s\n\n", data)
	if e.fl != nil {
		e.fl.Flush()
	}
}

func (s *Server) stream(w http.ResponseWriter, t int, turn Turn) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	e := sse{w: w, fl: fl, pause: func() {}}
	if s.Pause != nil {
		e.pause = func() { s.Pause(t) }
	}
	if s.Protocol == "anthropic" {
		anthropicStream(e, t, turn)
	} else {
		openAIStream(e, t, turn)
	}
}

func openAIStream(e sse, t int, turn Turn) {
	chunk := func(delta map[string]any, finish any) {
		e.send("", map[string]any{"id": fmt.Sprint("chatcmpl-", t), "object": "chat.completion.chunk", "model": "fake",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	for i, w := range words(turn.Text) {
		chunk(map[string]any{"content": w}, nil)
		if i == 0 {
			e.pause()
		}
	}
	args := make([]string, len(turn.Calls))
	for i, c := range turn.Calls {
		args[i] = c.Args
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": CallID(t, i+1), "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil)
	}
	interleaved(args, func(i int, p string) {
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": p}}}}, nil)
	})
	finish := "stop"
	if len(turn.Calls) > 0 {
		finish = "tool_calls"
	}
	chunk(map[string]any{}, finish)
	// The usage comes last, with no choice (stream_options.include_usage).
	e.send("", map[string]any{"id": fmt.Sprint("chatcmpl-", t), "object": "chat.completion.chunk", "model": "fake", "choices": []any{},
		"usage": map[string]any{"prompt_tokens": 10 * t, "completion_tokens": 5, "total_tokens": 10*t + 5}})
	fmt.Fprint(e.w, "data: [DONE]\n\n")
}

func anthropicStream(e sse, t int, turn Turn) {
	e.send("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": fmt.Sprint("msg_", t), "type": "message",
		"role": "assistant", "model": "fake", "content": []any{}, "stop_reason": nil, "usage": map[string]any{"input_tokens": 10 * t, "output_tokens": 1}}})
	block := 0
	if turn.Text != "" {
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		e.send("ping", map[string]any{"type": "ping"})
		for i, w := range words(turn.Text) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": w}})
			if i == 0 {
				e.pause()
			}
		}
		e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		block = 1
	}
	args := make([]string, len(turn.Calls))
	for i, c := range turn.Calls {
		args[i] = c.Args
		if !json.Valid([]byte(c.Args)) {
			args[i] = "{}" // as the whole answer sends it
		}
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": block + i,
			"content_block": map[string]any{"type": "tool_use", "id": CallID(t, i+1), "name": c.Name, "input": map[string]any{}}})
	}
	interleaved(args, func(i int, p string) {
		e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": block + i, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
	})
	for i := range turn.Calls {
		e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": block + i})
	}
	stop := "end_turn"
	if len(turn.Calls) > 0 {
		stop = "tool_use"
	}
	e.send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 5}})
	e.send("message_stop", map[string]any{"type": "message_stop"})
}
