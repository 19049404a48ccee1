package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

func textEvent(step, line string) engine.Event {
	return engine.Event{Type: engine.EventText, Step: step, Lines: []engine.LogLine{{Step: step, Text: line}}}
}

// The live view's running llm step shows the latest line of its answer as
// it arrives, a retry of its call in its place until text comes again,
// and neither once the step has finished.
func TestLiveStepShowsStreamedText(t *testing.T) {
	t.Parallel()
	st := newRunState()
	now := func() time.Time { return t0 }
	st.apply(engine.Event{Type: engine.EventRunStarted, Run: pendingRun("f", "llm:ask")}, now)
	st.apply(engine.Event{Type: engine.EventStepStarted, Step: "ask", Attempt: 1, Time: t0}, now)
	tests := []struct {
		ev           engine.Event
		want, absent string
	}{
		{ev: textEvent("ask", "Hello wor"), want: "· Hello wor"},
		{ev: textEvent("ask", "Hello world"), want: "· Hello world"},
		{ev: textEvent("ask", ""), want: "· Hello world"}, // a new line, no words yet
		{ev: engine.Event{Type: engine.EventCallRetrying, Step: "ask", Attempt: 2, Total: 4, Status: 429, Delay: time.Second}, want: "· retrying after 429 (2/4)", absent: "Hello"},
		{ev: engine.Event{Type: engine.EventCallRetrying, Step: "ask", Attempt: 3, Total: 4, Error: "connection reset by peer"}, want: "retrying after connection reset by peer (3/4)"},
		{ev: textEvent("ask", "next\x1b[2J line"), want: `· next\x1b[2J line`, absent: "retrying"},
		{ev: engine.Event{Type: engine.EventStepFinished, Step: "ask", Result: done("ask", "llm", 900, 1, 2, nil)}, want: "done", absent: "next"},
	}
	for i, tt := range tests {
		st.apply(tt.ev, now)
		_, _, text := liveStepText(st.step("ask"), t0.Add(time.Second))
		if !strings.Contains(text, tt.want) || (tt.absent != "" && strings.Contains(text, tt.absent)) || strings.ContainsRune(text, '\x1b') {
			t.Errorf("after event %d (%s): %q, want %q in it and not %q", i, tt.ev.Type, text, tt.want, tt.absent)
		}
	}
}

// The plain view says a call's retry on a line of its own, and writes no
// line per piece of text.
func TestPlainShowsCallRetries(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &plainProgress{w: &buf, now: func() time.Time { return t0 }, loc: time.UTC, st: newRunState()}
	p.Event(engine.Event{Type: engine.EventRunStarted, Run: pendingRun("f", "llm:ask"), Time: t0})
	buf.Reset()
	p.Event(textEvent("ask", "some text"))
	p.Event(engine.Event{Type: engine.EventCallRetrying, Step: "ask", Attempt: 2, Total: 4, Status: 503, Time: t0})
	if got := buf.String(); got != "12:00:00 ask retrying after 503 (2/4)\n" {
		t.Errorf("plain view wrote %q, want one retry line", got)
	}
}
