package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseServer answers chat calls the way the provider does: with a stream
// of server-sent events when the request asks for one (stream: true),
// else with one JSON answer. It records whether each request streamed and
// the stream_options it sent. Without events it answers with the JSON
// answer always, as servers that ignore "stream" do.
type sseServer struct {
	*httptest.Server
	mu       sync.Mutex
	streamed []bool
	options  []any
}

// sseEvent is one event of a stream: its name ("" for none, as OpenAI
// sends them) and its data.
type sseEvent struct{ name, data string }

func newSSEServer(t *testing.T, whole string, events []sseEvent) *sseServer {
	t.Helper()
	s := &sseServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not JSON: %v", err)
		}
		stream, _ := body["stream"].(bool)
		s.mu.Lock()
		s.streamed = append(s.streamed, stream)
		s.options = append(s.options, body["stream_options"])
		s.mu.Unlock()
		if !stream || events == nil {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, whole)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range events {
			if ev.name != "" {
				fmt.Fprintf(w, "event: %s\n", ev.name)
			}
			fmt.Fprintf(w, "data: %s\n\n", ev.data)
			fl.Flush()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func openAIChunk(content string) sseEvent {
	return sseEvent{data: fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content)}
}

var openAIStream = []sseEvent{
	{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`},
	openAIChunk("hello "), openAIChunk("from\nop"), openAIChunk("enai"),
	{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`},
	// stream_options.include_usage: the usage comes last, with no choice.
	{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}`},
	{data: `[DONE]`},
}

const openAIWhole = `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini",
	"choices":[{"index":0,"message":{"role":"assistant","content":"hello from\nopenai"},"finish_reason":"stop"}],
	"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}`

func anthropicDelta(index int, text string) sseEvent {
	return sseEvent{name: "content_block_delta", data: fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, index, text)}
}

var anthropicStream = []sseEvent{
	{name: "message_start", data: `{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-0","content":[],"stop_reason":null,"usage":{"input_tokens":20,"output_tokens":1}}}`},
	{name: "content_block_start", data: `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	{name: "ping", data: `{"type":"ping"}`},
	anthropicDelta(0, "hello "), anthropicDelta(0, "from "),
	{name: "content_block_stop", data: `{"type":"content_block_stop","index":0}`},
	{name: "content_block_start", data: `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`},
	anthropicDelta(1, "anth"), anthropicDelta(1, "ropic"),
	{name: "content_block_stop", data: `{"type":"content_block_stop","index":1}`},
	{name: "message_delta", data: `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`},
	{name: "message_stop", data: `{"type":"message_stop"}`},
}

const anthropicWhole = `{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-0",
	"content":[{"type":"text","text":"hello from "},{"type":"text","text":"anthropic"}],
	"stop_reason":"end_turn","usage":{"input_tokens":20,"output_tokens":7}}`

// TestStreamedCallRecordsTheSame: a streamed call hands its text over in
// pieces, and what it returns (text, usage, cost) is what the same call
// returns unstreamed.
func TestStreamedCallRecordsTheSame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, model, baseVar, keyVar string
		whole                        string
		events                       []sseEvent
		wantText                     string
		wantUsage                    Usage
		wantChunks                   int
	}{
		{name: "openai", model: "openai/gpt-4o-mini", baseVar: "OPENAI_BASE_URL", keyVar: "OPENAI_API_KEY", whole: openAIWhole, events: openAIStream,
			wantText: "hello from\nopenai", wantUsage: Usage{InputTokens: 12, OutputTokens: 5}, wantChunks: 3},
		{name: "anthropic", model: "anthropic/claude-sonnet-4-0", baseVar: "ANTHROPIC_BASE_URL", keyVar: "ANTHROPIC_API_KEY", whole: anthropicWhole, events: anthropicStream,
			wantText: "hello from anthropic", wantUsage: Usage{InputTokens: 20, OutputTokens: 7}, wantChunks: 4},
		// Servers that answer a stream request with the whole answer.
		{name: "openai-whole", model: "openai/gpt-4o-mini", baseVar: "OPENAI_BASE_URL", keyVar: "OPENAI_API_KEY", whole: openAIWhole,
			wantText: "hello from\nopenai", wantUsage: Usage{InputTokens: 12, OutputTokens: 5}, wantChunks: 1},
		{name: "anthropic-whole", model: "anthropic/claude-sonnet-4-0", baseVar: "ANTHROPIC_BASE_URL", keyVar: "ANTHROPIC_API_KEY", whole: anthropicWhole,
			wantText: "hello from anthropic", wantUsage: Usage{InputTokens: 20, OutputTokens: 7}, wantChunks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSSEServer(t, tt.whole, tt.events)
			base := srv.URL
			if strings.HasPrefix(tt.name, "openai") {
				base += "/v1"
			}
			env := map[string]string{tt.baseVar: base, tt.keyVar: "sk-test-stream-0123456789"}
			c := New(Registry{}, Options{Getenv: func(k string) string { return env[k] }})
			req := Request{Model: tt.model, Messages: []Message{{Role: "user", Content: "hi"}}}

			plain, err := c.Call(context.Background(), req)
			if err != nil {
				t.Fatalf("unstreamed call: %v", err)
			}
			var chunks []string
			ctx := WithStream(context.Background(), Stream{Text: func(s string) { chunks = append(chunks, s) }})
			streamed, err := c.Call(ctx, req)
			if err != nil {
				t.Fatalf("streamed call: %v", err)
			}
			if got := srv.streamed; len(got) != 2 || got[0] || !got[1] {
				t.Fatalf("requests streamed = %v, want [false true]", got)
			}
			if strings.HasPrefix(tt.name, "openai") {
				if o, _ := srv.options[1].(map[string]any); o["include_usage"] != true {
					t.Errorf("stream_options = %v, want include_usage: true", srv.options[1])
				}
			}
			if len(chunks) != tt.wantChunks {
				t.Errorf("chunks = %q, want %d of them", chunks, tt.wantChunks)
			}
			if got := strings.Join(chunks, ""); got != tt.wantText {
				t.Errorf("chunks joined = %q, want %q", got, tt.wantText)
			}
			for _, r := range []*Response{plain, streamed} {
				if r.Text != tt.wantText || r.Usage != tt.wantUsage {
					t.Errorf("answer = %q, usage %+v; want %q, %+v", r.Text, r.Usage, tt.wantText, tt.wantUsage)
				}
			}
			if plain.CostUSD == nil || streamed.CostUSD == nil || *plain.CostUSD != *streamed.CostUSD {
				t.Errorf("cost = %v unstreamed, %v streamed; want the same", plain.CostUSD, streamed.CostUSD)
			}
		})
	}
}

// TestRetriesAreReported: each retry inside a call is told to the
// stream before its wait, with what the last attempt got.
func TestRetriesAreReported(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch k {
		case 1:
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit"}}`)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"message":"busy"}}`)
		default:
			io.WriteString(w, openAIWhole)
		}
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-test"}
	var slept []time.Duration
	c := New(Registry{}, Options{Getenv: func(k string) string { return env[k] }, Sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}})
	var got []Retry
	ctx := WithStream(context.Background(), Stream{Retry: func(r Retry) { got = append(got, r) }})
	resp, err := c.Call(ctx, Request{Model: "openai/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Retry{
		{Attempt: 2, MaxAttempts: maxAttempts, Status: 429, Wait: 3 * time.Second},
		{Attempt: 3, MaxAttempts: maxAttempts, Status: 503, Wait: backoff(2)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("retries = %+v, want %+v", got, want)
	}
	if resp.Attempts != 3 || len(slept) != 2 {
		t.Errorf("attempts = %d, slept %v; want 3 attempts, 2 waits", resp.Attempts, slept)
	}
}

// TestMockStreams: the offline mock hands its text over in one piece.
func TestMockStreams(t *testing.T) {
	t.Parallel()
	var got []string
	ctx := WithStream(context.Background(), Stream{Text: func(s string) { got = append(got, s) }})
	if _, err := (Mock{Text: "canned"}).Call(ctx, Request{Model: "openai/x"}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[canned]" {
		t.Errorf("streamed %q, want [canned]", got)
	}
}

// TestStreamedToolCallShapes: the shapes in which OpenAI-compatible
// servers stream tool calls are each read as the calls they stand for,
// and none of them reaches the text.
func TestStreamedToolCallShapes(t *testing.T) {
	t.Parallel()
	chunk := func(delta string) sseEvent {
		return sseEvent{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}`}
	}
	end := []sseEvent{
		{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`},
		{data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`},
		{data: `[DONE]`},
	}
	two := []ToolCall{{"a", "lookup", `{"city":"Paris"}`}, {"b", "add", `{"x":1}`}}
	tests := []struct {
		name   string
		events []sseEvent
		want   []ToolCall
	}{
		// Each call whole in a chunk of its own, without index or type
		// (langchaingo drops the first and mixes the second into it).
		{"whole, unnumbered", []sseEvent{
			chunk(`{"role":"assistant","content":"Two. "}`),
			chunk(`{"tool_calls":[{"id":"a","function":{"name":"lookup","arguments":"{\"city\":\"Paris\"}"}}]}`),
			chunk(`{"tool_calls":[{"id":"b","function":{"name":"add","arguments":"{\"x\":1}"}}]}`),
		}, two},
		// Both calls whole in one delta, numbered.
		{"together", []sseEvent{
			chunk(`{"role":"assistant","content":"Two. "}`),
			chunk(`{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"lookup","arguments":"{\"city\":\"Paris\"}"}},{"index":1,"id":"b","type":"function","function":{"name":"add","arguments":"{\"x\":1}"}}]}`),
		}, two},
		// The id and name repeated in every delta, the pieces interleaved.
		{"repeated, interleaved", []sseEvent{
			chunk(`{"role":"assistant","content":"Two. "}`),
			chunk(`{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"lookup","arguments":"{\"city\":"}}]}`),
			chunk(`{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"add","arguments":"{\"x\""}}]}`),
			chunk(`{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"lookup","arguments":"\"Paris\"}"}}]}`),
			chunk(`{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"add","arguments":":1}"}}]}`),
		}, two},
		// The name in pieces.
		{"name in pieces", []sseEvent{
			chunk(`{"role":"assistant","content":"Two. "}`),
			chunk(`{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"look","arguments":""}}]}`),
			chunk(`{"tool_calls":[{"index":0,"function":{"name":"up","arguments":"{\"city\":\"Paris\"}"}}]}`),
			chunk(`{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"add","arguments":"{\"x\":1}"}}]}`),
		}, two},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSSEServer(t, openAIWhole, append(tt.events, end...))
			env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-test"}
			c := New(Registry{}, Options{Getenv: func(k string) string { return env[k] }})
			var chunks []string
			ctx := WithStream(context.Background(), Stream{Text: func(s string) { chunks = append(chunks, s) }})
			resp, err := c.Call(ctx, Request{Model: "openai/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hi"}},
				Tools: []Tool{{Name: "lookup", Parameters: map[string]any{"type": "object"}}, {Name: "add", Parameters: map[string]any{"type": "object"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(resp.ToolCalls) != fmt.Sprint(tt.want) || resp.Text != "Two. " || fmt.Sprint(chunks) != "[Two. ]" {
				t.Errorf("calls %+v, text %q, streamed %q; want %+v, \"Two. \" streamed alone", resp.ToolCalls, resp.Text, chunks, tt.want)
			}
			if resp.Usage != (Usage{InputTokens: 3, OutputTokens: 2}) {
				t.Errorf("usage %+v", resp.Usage)
			}
		})
	}
}

// TestOllamaStreamsLive: the native Ollama client streams one JSON object
// a line (application/x-ndjson), and each piece reaches the stream as it
// arrives, not once the answer has ended: the server sends the rest only
// after the first piece was shown.
func TestOllamaStreamsLive(t *testing.T) {
	t.Parallel()
	shown := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["stream"] != true {
			t.Errorf("request %v, want stream: true", body)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		line := func(content string, done bool) {
			extra := ""
			if done {
				extra = `,"done_reason":"stop","prompt_eval_count":9,"eval_count":4`
			}
			fmt.Fprintf(w, `{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":%q},"done":%v%s}`+"\n", content, done, extra)
			w.(http.Flusher).Flush()
		}
		line("hello ", false)
		select {
		case <-shown:
		case <-time.After(5 * time.Second):
			t.Errorf("the first piece was not shown before the answer ended")
		}
		line("from ollama", false)
		line("", true)
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"OLLAMA_HOST": srv.URL}
	c := New(Registry{}, Options{Getenv: func(k string) string { return env[k] }})
	var chunks []string
	ctx := WithStream(context.Background(), Stream{Text: func(s string) {
		if s != "" {
			chunks = append(chunks, s)
			once.Do(func() { close(shown) })
		}
	}})
	resp, err := c.Call(ctx, Request{Model: "ollama/llama3.2", Messages: []Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "hello from ollama" || fmt.Sprint(chunks) != "[hello  from ollama]" || resp.Usage != (Usage{InputTokens: 9, OutputTokens: 4}) {
		t.Errorf("answer %q, streamed %q, usage %+v", resp.Text, chunks, resp.Usage)
	}
}

// TestChunkReaderReadsAcrossReads: a line cut between two reads of the
// body (a chunk split by the network anywhere) is read whole, with CRLF
// line ends too.
func TestChunkReaderReadsAcrossReads(t *testing.T) {
	t.Parallel()
	stream := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Héllo \"}}]}\r\n\r\n" +
		": a comment\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n" +
		"data: [DONE]\n\n"
	for _, size := range []int{1, 7, len(stream)} {
		var shown []string
		r := &chunkReader{text: func(s string) { shown = append(shown, s) }, answerBlock: -1}
		for b := []byte(stream); len(b) > 0; b = b[min(size, len(b)):] {
			r.feed(b[:min(size, len(b))])
		}
		text, calls, ok := r.finish()
		got := fmt.Sprintf("%q %v %v", text, ok, shown)
		for _, c := range calls {
			got += fmt.Sprintf(" %s:%s:%s", c.ID, c.FunctionCall.Name, c.FunctionCall.Arguments)
		}
		if want := `"Héllo " true [Héllo ] a:f:{"x":1} b:g:{}`; got != want {
			t.Errorf("read %d bytes at a time: %s, want %s", size, got, want)
		}
	}
}
