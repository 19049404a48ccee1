package work

import "github.com/kitaruhq/kitaru/providers"

// TextStream is one model call's answer as it arrives. The engine shows
// it while the unit runs (ephemeral events: the line being written, the
// retries) and logs it line by line; it is never made durable piece by
// piece, and nothing it does waits for whoever watches. The answer itself
// is recorded from the call's Response, as without streaming.
type TextStream interface {
	// Text takes the next piece of the answer.
	Text(chunk string)
	// Retrying says the call is about to try its request again.
	Retrying(r providers.Retry)
	// Secrets masks these values in the text from now on (the key the
	// call sends).
	Secrets(values []string)
	// End ends the call's text: its last line reaches the log.
	End()
}
