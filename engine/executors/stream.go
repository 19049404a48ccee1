package executors

import (
	"context"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/providers"
)

// streamed is ctx with the calls made in it streaming to the sink: their
// text as it arrives, their retries, the keys they send (masked in the
// text). end ends the text once the calls have returned; the answer is
// recorded from the Response, as unstreamed.
func streamed(ctx context.Context, sink work.Sink) (_ context.Context, end func()) {
	ts := sink.Stream()
	return providers.WithStream(ctx, providers.Stream{Text: ts.Text, Retry: ts.Retrying, Secrets: ts.Secrets}), ts.End
}
