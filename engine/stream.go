package engine

import (
	"slices"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/providers"
)

// Ephemeral events of a model call while it runs (see ephemeral).
const (
	// EventText: the line a step's model is writing (Step, Item, Lines[0]
	// the line so far, masked). Finished lines are logged, as EventLog.
	EventText EventType = "text"
	// EventCallRetrying: a step's model call is about to send its request
	// again (Step, Item; Attempt of Total, after Delay; Status the last
	// HTTP status, or Error the network error).
	EventCallRetrying EventType = "call_retrying"
)

// streamLogMax bounds what one call's streamed text adds to the run's log;
// the answer itself is recorded whole either way.
const streamLogMax = 1 << 20

// Stream takes in one model call of the unit as it arrives.
func (u *unit) Stream() work.TextStream {
	s := &textStream{u: u, c: newCapture(u, "the answer", 0, streamLogMax, nil), lines: make(chan []LogLine, 64), written: make(chan struct{})}
	s.c.log.out = s.logged
	go s.write()
	return s
}

// logged fans finished lines out at once and hands them to the writer.
func (s *textStream) logged(batch []LogLine) {
	lines := slices.Clone(batch)
	s.u.x.fanOut(s.u.stamp(Event{Type: EventLog, Lines: lines}))
	s.lines <- lines
}

// write appends the lines to the run's log off the call's path: the
// store's appends wait on its journal's syncs, which the text of a call
// being read must not.
func (s *textStream) write() {
	defer close(s.written)
	for lines := range s.lines {
		s.u.x.appendLog(lines...)
	}
}

// textStream logs a call's text line by line, as a command's output is
// (unsynced appends, secrets masked across pieces), and fans out the line
// being written with every piece. Neither waits for the run's durable
// events: the fan-out takes no lock of the run's (what the unit does after
// a piece is fanned out after it), and lines are appended by a goroutine
// of the stream's own.
type textStream struct {
	mu      sync.Mutex
	u       *unit
	c       *capture
	lines   chan []LogLine // to write, in order
	written chan struct{}  // closed once every line is written
	ended   bool
}

func (s *textStream) Text(chunk string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.c.Write([]byte(chunk))
	s.u.x.fanOut(s.u.stamp(Event{Type: EventText, Lines: []LogLine{{Step: s.u.step.ID, Item: s.u.item, Text: string(s.c.log.line)}}}))
}

func (s *textStream) Retrying(r providers.Retry) {
	ev := Event{Type: EventCallRetrying, Attempt: r.Attempt, Total: r.MaxAttempts, Delay: r.Wait, Status: r.Status}
	if r.Err != nil {
		ev.Error = s.u.mask(r.Err.Error())
	}
	s.u.x.fanOut(s.u.stamp(ev))
}

func (s *textStream) Secrets(values []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.u.AddSecrets(values)
	s.c.mask.r = s.u.red
}

// End logs the last line and waits until every line is written, so
// that what the unit logs next comes after them.
func (s *textStream) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.c.flush()
	s.c.kept = nil
	close(s.lines)
	<-s.written
}

// stamp fills in what every event of the unit carries.
func (u *unit) stamp(ev Event) Event {
	ev.Time, ev.RunID, ev.Step, ev.Item = time.Now().UTC(), u.x.meta.ID, u.step.ID, u.item
	return ev
}
