package engine

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// How a command's output is taken in. Every byte is looked at once, as it
// arrives (a long line without a newline costs what its length costs), and
// memory and log.txt stay bounded whatever the command prints:
//
//   - stdout is kept whole, up to the step's max_output; one byte more and
//     the command's process group is killed and the step fails.
//   - of stderr only the end is kept (stderrKeep), for the error message.
//   - each stream's lines go to log.txt until they have used max_output
//     bytes of it in this attempt, prefixes included; the rest is counted
//     in one closing line. A line is cut in the log at logLineMax bytes.
const (
	logLineMax = 64 << 10
	stderrKeep = 64 << 10
)

// capture takes one stream of a command.
type capture struct {
	limit int64  // stdout: bytes kept before stop is called; 0: keep only the end
	stop  func() // kills the command once it printed more than limit
	kept  []byte
	n     int64        // bytes written so far
	over  bool         // more than limit was printed
	trim  bool         // the start of stderr was dropped
	mask  redactStream // what reaches the log is masked, secrets split across writes too
	log   streamLog
}

// newCapture takes a stream of u's command; the stream's log holds up to
// logBudget bytes.
func newCapture(u *unit, stream string, limit, logBudget int64, stop func()) *capture {
	c := &capture{limit: limit, stop: stop, mask: redactStream{r: u.red}}
	c.log = streamLog{u: u, stream: stream, budget: logBudget, limit: logBudget, hold: logLineMax + utf8.UTFMax,
		prefix: len("2006-01-02T15:04:05.999999999Z") + len(u.step.ID) + 3}
	if u.item != nil {
		c.log.prefix += 1 + len(strconv.Itoa(*u.item))
	}
	return c
}

func (c *capture) Write(p []byte) (int, error) {
	if c.over {
		return len(p), nil // it is being killed; what it still prints is dropped
	}
	c.n += int64(len(p))
	switch {
	case c.limit > 0 && c.n > c.limit:
		c.over = true
		c.logged(p[:int64(len(p))-(c.n-c.limit)])
		c.stop()
		return len(p), nil
	case c.limit > 0:
		c.kept = append(c.kept, p...)
	default:
		c.kept = append(c.kept, p...)
		if len(c.kept) > 2*stderrKeep {
			c.kept = append(c.kept[:0], c.kept[len(c.kept)-stderrKeep:]...)
			c.trim = true
		}
	}
	c.logged(p)
	return len(p), nil
}

// logged hands p to the log, masked. Once the log's budget is spent
// nothing more is logged, so nothing more is masked for it either (what
// is kept is masked when the command has ended).
func (c *capture) logged(p []byte) {
	if c.log.budget <= 0 {
		c.log.dropped += int64(len(p))
		return
	}
	c.log.write(c.mask.next(p))
}

// flush logs what is left once the command has ended.
func (c *capture) flush() {
	c.log.write(c.mask.rest())
	c.log.flush()
}

// text is what was kept: all of stdout, or the end of stderr ("…" marks
// that its start was dropped).
func (c *capture) text() string {
	if c.trim {
		return "…" + string(c.kept)
	}
	return string(c.kept)
}

// maskedText is text masked for u. Of stderr only the end is kept, and a
// secret may straddle where it starts: an opening that is the end of a
// masked value is masked too (a secret's suffix alone does not match it).
func (c *capture) maskedText(u *unit) string {
	s := c.text()
	if c.trim {
		if k := u.red.endsAtStart(c.kept); k > 0 {
			u.masked = true
			s = "…***" + string(c.kept[k:])
		}
	}
	return u.mask(s)
}

// streamLog copies a stream's lines to the run's log, one AppendLog per
// write. What it is given is masked already (redactStream masks as
// masking the whole stream would), so cutting a line cannot leave a part
// of a secret: no secret is left in the text to cut.
type streamLog struct {
	u       *unit
	stream  string
	budget  int64 // bytes of log.txt this stream may still use
	limit   int64 // the budget it started with
	hold    int   // bytes of a line kept for the log: logLineMax, and the rest of a character cut there
	prefix  int   // bytes log.txt adds to a line (time, step)
	line    []byte
	cut     int64 // bytes of the current line beyond hold
	dropped int64 // bytes not logged since the budget ran out
	batch   []LogLine
	// out, when set, takes each batch instead (a model's streamed text:
	// see textStream); it keeps none of it.
	out func([]LogLine)
}

func (l *streamLog) write(p []byte) {
	if l.budget <= 0 {
		// Nothing more is logged: count, without looking for lines.
		l.dropped += int64(len(p))
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.add(p)
			break
		}
		l.add(p[:i])
		l.end(1)
		p = p[i+1:]
	}
	l.emit()
}

// add appends to the current line what the log can hold of it.
func (l *streamLog) add(p []byte) {
	if l.budget <= 0 {
		l.dropped += int64(len(p))
		return
	}
	if room := l.hold - len(l.line); len(p) > room {
		l.cut += int64(len(p) - room)
		p = p[:room]
	}
	l.line = append(l.line, p...)
}

// end finishes the current line; nl is 1 for the newline that ended it.
func (l *streamLog) end(nl int) {
	defer func() { l.line, l.cut = l.line[:0], 0 }()
	if l.budget <= 0 {
		l.dropped += int64(nl)
		return
	}
	text := string(l.line)
	more := l.cut
	if len(text) > logLineMax {
		k := logLineMax
		for k > 0 && !utf8.RuneStart(text[k]) {
			k--
		}
		more += int64(len(text) - k)
		text = text[:k]
	}
	if more > 0 {
		text += fmt.Sprintf(" … (%d more bytes of this line not logged)", more)
	}
	if cost := int64(len(text) + l.prefix); cost <= l.budget {
		l.budget -= cost
		l.batch = append(l.batch, LogLine{Step: l.u.step.ID, Item: l.u.item, Text: text})
		return
	}
	l.budget = 0
	l.dropped += int64(len(l.line)) + l.cut + int64(nl)
}

func (l *streamLog) flush() {
	if len(l.line) > 0 || l.cut > 0 {
		l.end(0)
	}
	if l.dropped > 0 {
		l.batch = append(l.batch, LogLine{Step: l.u.step.ID, Item: l.u.item, Text: fmt.Sprintf(
			"… %d more bytes of %s not logged (the log keeps at most %s of each stream of an attempt)",
			l.dropped, l.stream, bytesize.Format(l.limit))})
		l.dropped = 0
	}
	l.emit()
}

// emit appends the lines made so far, all with the time they arrived.
func (l *streamLog) emit() {
	if len(l.batch) == 0 {
		return
	}
	now := time.Now().UTC()
	for i := range l.batch {
		l.batch[i].Time = now
	}
	if l.out != nil {
		l.out(l.batch)
	} else {
		l.u.x.appendLog(slices.Clone(l.batch)...)
		l.u.x.publish(Event{Type: EventLog, Step: l.u.step.ID, Item: l.u.item, Lines: slices.Clone(l.batch)})
	}
	// The store formats the lines at once and keeps none of them.
	clear(l.batch)
	l.batch = l.batch[:0]
}
