package cli

import (
	"fmt"
	"regexp"
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
	if t := cleanLine(e.Lines[0].Text); t != "" {
		s.streamLine = t
	}
	if s.callRetry {
		s.retryNote, s.callRetry = "", false
	}
}

// output folds lines a running step's command printed (or its model's
// finished lines) into its state: the last one with any text is the
// step's latest line, "[3] text" for item 3 of a foreach step.
func (s *stepState) output(e engine.Event) {
	if s.status != engine.StepRunning {
		return
	}
	for i := len(e.Lines) - 1; i >= 0; i-- {
		if t := cleanLine(e.Lines[i].Text); t != "" {
			if it := e.Lines[i].Item; it != nil {
				t = fmt.Sprintf("[%d] %s", *it, t)
			}
			s.streamLine = t
			return
		}
	}
}

// cleanLine is a line of a command or a model, fit for a line of a view:
// what a terminal would show of a line redrawn with \r (a progress bar),
// without colours (compilers and test runners colour their lines), other
// controls shown as escapes (an escape sequence would break the live
// view's redraw), tabs as spaces, trimmed.
func cleanLine(text string) string {
	text = strings.TrimRight(text, "\r")
	if i := strings.LastIndexByte(text, '\r'); i >= 0 {
		text = text[i+1:]
	}
	text = sgr.ReplaceAllString(text, "")
	return strings.TrimSpace(strings.ReplaceAll(textsafe.Escape(text), "\t", " "))
}

// sgr matches a colour or style sequence (SGR), harmless once removed.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

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
