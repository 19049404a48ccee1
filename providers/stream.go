package providers

import (
	"context"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// Stream is what a call shows while it runs: its answer's text as it
// arrives and the retries it makes. It travels in the call's context, not
// in the Request, because the request is recorded and hashed (cache keys)
// and who watches a call is no part of what it asks. Any func may be nil;
// they are never called at once, nor after the call returns, though Text
// may be called from a goroutine of the client's.
type Stream struct {
	// Text gets each piece of the answer's text; the pieces joined are
	// the text Response.Text holds (before structured output is read).
	Text func(chunk string)
	// Retry gets a retry about to be made, before its wait.
	Retry func(Retry)
	// Secrets gets the credential values the call sends, before it sends
	// them: a server may echo them in the text streamed.
	Secrets func(values []string)
}

// Retry is one retry inside a call: what the last attempt got, and when
// the next one is made.
type Retry struct {
	Attempt     int           // the attempt about to be made, from 2
	MaxAttempts int           // the most a call makes
	Status      int           // the HTTP status the last attempt got; 0: none
	Err         error         // the network error it got instead (Status 0)
	Wait        time.Duration // before the next attempt
}

type streamKey struct{}

// WithStream returns ctx with s: calls made with it stream their answer
// to s.Text (the providers that can; the others hand it over whole) and
// tell s.Retry of their retries.
func WithStream(ctx context.Context, s Stream) context.Context {
	return context.WithValue(ctx, streamKey{}, s)
}

// StreamOf is the Stream ctx carries; the zero Stream when none.
func StreamOf(ctx context.Context) Stream {
	s, _ := ctx.Value(streamKey{}).(Stream)
	return s
}

// streamOptions are the call options that stream the answer to ctx's
// Stream, none without one. The OpenAI client asks for the usage in the
// stream's last chunk (stream_options.include_usage) by itself; the
// Anthropic one reads it from message_start and message_delta. On those
// two wires the text is handed on by the chunkReader returned, which reads
// the stream beside the client (see stream_chunks.go): the client's
// callback only makes it stream. answerTool is the Anthropic answer tool
// of a schema, "" for none.
func streamOptions(ctx context.Context, provider, answerTool string) ([]llms.CallOption, *chunkReader) {
	text := StreamOf(ctx).Text
	if text == nil {
		return nil, nil
	}
	if providerInfos[provider].openAIWire || provider == "anthropic" {
		quiet := llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })
		return []llms.CallOption{quiet}, &chunkReader{text: text, anthropic: provider == "anthropic", answerTool: answerTool, answerBlock: -1}
	}
	return []llms.CallOption{llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
		if len(chunk) > 0 {
			text(string(chunk))
		}
		return nil
	})}, nil
}
