package providers

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"
)

// langchaingo's OpenAI client (v0.1.14, the latest) rebuilds a streamed
// answer's tool calls wrongly: a delta without a type is appended to the
// last call opened, whatever its index, so the interleaved argument pieces
// of parallel calls are mixed (and a call whose first delta has no type is
// dropped), and the deltas reach the text callback as JSON. So kitaru reads
// the chunks itself, as the client reads them off the wire, and takes the
// answer's text and tool calls from its own reading; the client's is used
// for the rest (usage, finish reason). Anthropic's client keeps content
// blocks by their index, and its reading stands; kitaru reads its events
// only to hand on, beside the text, the input of the answer tool as it is
// written (a structured answer is that tool's call), which the client does
// not hand on.

// chunkReader reads the events of an OpenAI or Anthropic stream as the
// client reads the body: it hands the answer's text to text and, on the
// OpenAI wire, gathers the tool calls by their index. The client reads in
// a goroutine of its own; the caller reads the result once the client has
// returned.
type chunkReader struct {
	mu   sync.Mutex
	text func(string)
	done bool   // the call returned: nothing more is handed on
	line []byte // the line being read

	// anthropic: the stream is Anthropic's; answerTool names the answer
	// tool ("" for none), answerBlock is the content block of its first
	// call (-1 before it starts).
	anthropic   bool
	answerTool  string
	answerBlock int

	saw   bool // an OpenAI chunk was read
	whole strings.Builder
	calls []streamedCall
}

// streamedCall is one tool call as its deltas built it.
type streamedCall struct {
	index    int
	hasIndex bool
	id, name string
	args     []byte
}

// body is rc read through r.
func (r *chunkReader) body(rc io.ReadCloser) io.ReadCloser {
	return &chunkBody{rc: rc, r: r}
}

type chunkBody struct {
	rc io.ReadCloser
	r  *chunkReader
}

func (b *chunkBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.r.feed(p[:n])
	return n, err
}

func (b *chunkBody) Close() error { return b.rc.Close() }

// maxChunkLine bounds the line kept while it is read: the client's
// scanner fails on a longer one anyway (64 KiB), and a body without line
// breaks must not be held whole twice.
const maxChunkLine = 1 << 20

func (r *chunkReader) feed(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(r.line)+len(p) <= maxChunkLine {
				r.line = append(r.line, p...)
			}
			return
		}
		if len(r.line)+i <= maxChunkLine {
			r.line = append(r.line, p[:i]...)
		}
		r.event(bytes.TrimRight(r.line, "\r"))
		r.line = r.line[:0]
		p = p[i+1:]
	}
}

// hand gives a piece of the answer's text to text, until the call returns.
func (r *chunkReader) hand(piece string) {
	if piece != "" && r.text != nil && !r.done {
		r.text(piece)
	}
}

// event reads one line of the stream: a "data:" line holding an event;
// anything else (other fields, comments, [DONE]) is skipped.
func (r *chunkReader) event(line []byte) {
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	if r.anthropic {
		r.anthropicEvent(data)
		return
	}
	r.openAIChunk(data)
}

// anthropicEvent hands on the text deltas and those of the answer tool's
// input.
func (r *chunkReader) anthropicEvent(data []byte) {
	var ev struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"content_block"`
		Delta struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
		} `json:"delta"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	switch {
	case ev.Type == "content_block_start" && ev.ContentBlock.Type == "tool_use" && r.answerTool != "" &&
		ev.ContentBlock.Name == r.answerTool && r.answerBlock < 0:
		r.answerBlock = ev.Index
	case ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta":
		r.hand(ev.Delta.Text)
	case ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" && ev.Index == r.answerBlock:
		r.hand(ev.Delta.PartialJSON)
	}
}

// openAIChunk reads a chunk as the client does (only its first choice).
func (r *chunkReader) openAIChunk(data []byte) {
	var chunk struct {
		Choices []struct {
			Delta struct {
				Content   string `json:"content"`
				ToolCalls []struct {
					Index    *int   `json:"index"`
					ID       string `json:"id"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &chunk) != nil || len(chunk.Choices) == 0 {
		return
	}
	r.saw = true
	d := chunk.Choices[0].Delta
	r.whole.WriteString(d.Content)
	r.hand(d.Content)
	for _, tc := range d.ToolCalls {
		c := r.callFor(tc.Index, tc.ID)
		if c.id == "" {
			c.id = tc.ID
		}
		c.addName(tc.Function.Name)
		c.args = append(c.args, tc.Function.Arguments...)
	}
}

// callFor is the call a delta adds to: the one of its index; without an
// index (servers that send each call whole, unnumbered), a new one when
// it has an id other than the last call's, else the last.
func (r *chunkReader) callFor(index *int, id string) *streamedCall {
	if index != nil {
		for i := range r.calls {
			if r.calls[i].hasIndex && r.calls[i].index == *index {
				return &r.calls[i]
			}
		}
		r.calls = append(r.calls, streamedCall{index: *index, hasIndex: true})
		return &r.calls[len(r.calls)-1]
	}
	if n := len(r.calls); n > 0 && (id == "" || r.calls[n-1].id == id) {
		return &r.calls[n-1]
	}
	r.calls = append(r.calls, streamedCall{})
	return &r.calls[len(r.calls)-1]
}

// addName adds a delta's name: servers send it whole in the call's first
// delta, some again in later ones (kept once), a few in pieces.
func (c *streamedCall) addName(name string) {
	if name != c.name {
		c.name += name
	}
}

// finish ends the reading (the client has returned). On the OpenAI wire,
// once a chunk was read, text and calls are the answer's (ok); the
// client's reading stands otherwise.
func (r *chunkReader) finish() (text string, calls []llms.ToolCall, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	if r.anthropic || !r.saw {
		return "", nil, false
	}
	for i := range r.calls {
		c := &r.calls[i]
		calls = append(calls, llms.ToolCall{ID: c.id, Type: "function", FunctionCall: &llms.FunctionCall{Name: c.name, Arguments: string(c.args)}})
	}
	return r.whole.String(), calls, true
}
