package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// A call that streams asks for server-sent events, but not every server
// that speaks a provider's wire honours "stream": true (proxies, small
// OpenAI-compatible servers, test doubles): some answer with the whole
// JSON answer. The client would read that as an empty stream, an empty
// answer with no usage. So such an answer is turned into the stream it
// stands for, and the call records what it would have unstreamed.

// streams says whether a request body asks for a stream.
func streams(body []byte) bool {
	var m struct {
		Stream bool `json:"stream"`
	}
	return len(body) > 0 && json.Unmarshal(body, &m) == nil && m.Stream
}

// asStream turns a whole JSON answer to a streaming request into its
// events; any other answer (a stream, an error, something unknown) is
// left to the client as it came. Ollama's stream is JSON too, a line at
// a time (application/x-ndjson): reading it whole would hold every piece
// back until the answer ends.
func asStream(resp *http.Response, limit int64) *http.Response {
	if resp == nil || resp.StatusCode != http.StatusOK {
		return resp
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") || strings.Contains(ct, "ndjson") {
		return resp
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	rest := resp.Body
	put := func(b []byte) *http.Response {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), rest), rest}
		return resp
	}
	if err != nil || int64(len(raw)) > limit {
		return put(raw)
	}
	var kind struct {
		Object string `json:"object"`
		Type   string `json:"type"`
	}
	if json.Unmarshal(raw, &kind) != nil {
		return put(raw)
	}
	var events []byte
	switch {
	case kind.Object == "chat.completion":
		events, err = openAIEvents(raw)
	case kind.Type == "message":
		events, err = anthropicEvents(raw)
	default:
		return put(raw)
	}
	if err != nil {
		return put(raw)
	}
	rest.Close()
	resp.Header.Set("Content-Type", "text/event-stream")
	resp.ContentLength = int64(len(events))
	resp.Body = io.NopCloser(bytes.NewReader(events))
	return resp
}

// openAIEvents is a chat completion as its chunks: each choice's message
// as one delta, then the usage, then [DONE].
func openAIEvents(raw []byte) ([]byte, error) {
	var c struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []struct {
			Index        int                        `json:"index"`
			Message      map[string]json.RawMessage `json:"message"`
			FinishReason *string                    `json:"finish_reason"`
		} `json:"choices"`
		Usage json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	chunk := func(choices any, usage json.RawMessage) error {
		m := map[string]any{"id": c.ID, "object": "chat.completion.chunk", "created": c.Created, "model": c.Model, "choices": choices}
		if usage != nil {
			m["usage"] = usage
		}
		data, err := json.Marshal(m)
		fmt.Fprintf(&b, "data: %s\n\n", data)
		return err
	}
	for _, ch := range c.Choices {
		if err := numberCalls(ch.Message); err != nil {
			return nil, err
		}
		if err := chunk([]any{map[string]any{"index": ch.Index, "delta": ch.Message, "finish_reason": ch.FinishReason}}, nil); err != nil {
			return nil, err
		}
	}
	if c.Usage != nil {
		if err := chunk([]any{}, c.Usage); err != nil {
			return nil, err
		}
	}
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes(), nil
}

// numberCalls gives each tool call of a message the index a delta
// carries, which a whole answer has no need of.
func numberCalls(msg map[string]json.RawMessage) error {
	raw, ok := msg["tool_calls"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var calls []map[string]any
	if err := json.Unmarshal(raw, &calls); err != nil {
		return err
	}
	for i, c := range calls {
		c["index"] = i
	}
	out, err := json.Marshal(calls)
	msg["tool_calls"] = out
	return err
}

// anthropicEvents is a message as its events: message_start with the
// input usage, each content block started, filled and stopped, then
// message_delta with the output usage.
func anthropicEvents(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(m["content"], &blocks); err != nil {
		return nil, err
	}
	var usage map[string]json.RawMessage
	_ = json.Unmarshal(m["usage"], &usage)
	var b bytes.Buffer
	var failed error
	event := func(name string, v map[string]any) {
		v["type"] = name
		data, err := json.Marshal(v)
		if err != nil {
			failed = err
		}
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data)
	}
	start := map[string]json.RawMessage{}
	for k, v := range m {
		start[k] = v
	}
	start["content"] = json.RawMessage("[]")
	event("message_start", map[string]any{"message": start})
	for i, blk := range blocks {
		var typ string
		_ = json.Unmarshal(blk["type"], &typ)
		switch typ {
		case "text":
			var text string
			_ = json.Unmarshal(blk["text"], &text)
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{"type": "text_delta", "text": text}})
		case "tool_use":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "tool_use", "id": blk["id"], "name": blk["name"]}})
			event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(blk["input"])}})
		default:
			return nil, fmt.Errorf("content block of type %q", typ)
		}
		event("content_block_stop", map[string]any{"index": i})
	}
	event("message_delta", map[string]any{"delta": map[string]any{"stop_reason": m["stop_reason"]}, "usage": usage})
	event("message_stop", map[string]any{})
	return b.Bytes(), failed
}
