package cli

import (
	"fmt"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/internal/textsafe"
)

// streamed folds a model's text event into a running step: its latest
// line that has any text (a piece that starts a new line leaves the line
// before on show until words arrive). Text arriving means a retry the
// call made is over, so its note goes.
func (s *stepState) streamed(e engine.Event) {
	if s.status != engine.StepRunning || len(e.Lines) == 0 {
		return
	}
	// Escaped, as every text from a model is: the line is drawn in a
	// terminal's frame.
	if t := strings.TrimSpace(strings.ReplaceAll(textsafe.Escape(e.Lines[0].Text), "\t", " ")); t != "" {
		s.streamLine = t
	}
	if s.callRetry {
		s.retryNote, s.callRetry = "", false
	}
}

// callRetryText says a model call is trying its request again: "retrying
// after 429 (2/4)", or after the network error it got.
func callRetryText(e engine.Event) string {
	what := ""
	if e.Item != nil {
		what = fmt.Sprintf("item %d ", *e.Item)
	}
	cause := "an error"
	switch {
	case e.Status != 0:
		cause = fmt.Sprint(e.Status)
	case e.Error != "":
		cause = textcut.Runes(firstLine(e.Error), 60)
	}
	return fmt.Sprintf("%sretrying after %s (%d/%d)", what, cause, e.Attempt, e.Total)
}
