package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/internal/textsafe"
	"github.com/kitaruhq/kitaru/providers"
)

// Owned by the terminal-view work. The engine emits events; this file turns
// them into either a live view redrawn in place (a terminal) or one plain
// line per event (pipes, CI logs). The drawing is separated from the state
// (runState in progress_state.go) so both views show the same facts.

// progressOptions say how progress is drawn.
type progressOptions struct {
	TTY   bool // draw a live view that updates in place
	Color bool // false when NO_COLOR is set or not a TTY
	Quiet bool // print nothing

	// Width is the terminal width the live view truncates its lines to, so a
	// long line never wraps and breaks the cursor-up redraw. 0: ask the
	// terminal behind the writer at every frame (it may be resized), else 80.
	Width int
	// Height bounds the frame's rows: cursor-up cannot climb above the top
	// of the screen, so a frame taller than the terminal folds finished
	// steps into one row. Asked of the terminal along with Width when Width
	// is 0; otherwise 0 means no bound.
	Height int
	// Now is the clock; nil is time.Now. Tests fix it.
	Now func() time.Time
	// Location is the time zone of the plain lines' times; nil is the
	// user's local time (the engine's events are in UTC).
	Location *time.Location
	// Tick is how often the live view redraws to advance elapsed times.
	// 0: 150ms; negative: never (tests redraw on events only).
	Tick time.Duration
}

// progress draws a run's events. Close finishes the drawing (the live view
// leaves its final frame on screen).
type progress interface {
	engine.Observer
	Close()
}

// progressFor picks the options for drawing on w: a live view on a terminal
// that can move its cursor (not TERM=dumb, as in an editor's shell buffer),
// colours unless NO_COLOR says otherwise. getenv nil is os.Getenv.
func progressFor(w io.Writer, quiet bool, getenv func(string) string) progressOptions {
	if getenv == nil {
		getenv = os.Getenv
	}
	tty := isTTY(w) && getenv("TERM") != "dumb"
	return progressOptions{TTY: tty, Color: tty && useColor(getenv), Quiet: quiet}
}

func newProgress(w io.Writer, opts progressOptions) progress {
	if opts.Quiet {
		return quietProgress{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.TTY {
		if opts.Location == nil {
			opts.Location = time.Local
		}
		return &plainProgress{w: w, now: opts.Now, loc: opts.Location, st: newRunState()}
	}
	if opts.Tick == 0 {
		opts.Tick = 150 * time.Millisecond
	}
	lp := &liveProgress{w: w, opts: opts, st: newRunState(), done: make(chan struct{}), askSize: opts.Width <= 0}
	if opts.Tick > 0 {
		lp.ticker = time.NewTicker(opts.Tick)
		lp.wg.Add(1)
		go lp.tickLoop()
	}
	return lp
}

type quietProgress struct{}

func (quietProgress) Event(engine.Event) {}
func (quietProgress) Close()             {}

// ---- plain: one line per event ----

type plainProgress struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	loc *time.Location
	st  *runState
}

func (p *plainProgress) Event(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.st.apply(e, p.now)
	t := e.Time
	if t.IsZero() {
		t = p.now()
	}
	stamp := t.In(p.loc).Format("15:04:05")
	line := func(step, text string) {
		fmt.Fprintf(p.w, "%s %-*s %s\n", stamp, p.st.nameWidth(), step, text)
	}
	switch e.Type {
	case engine.EventRunStarted:
		verb := "started"
		if p.st.resumed {
			verb = "resumed"
		}
		// One write for the lot: a replay of a long run lists every step
		// it reused here.
		var b bytes.Buffer
		b.Grow(96 * (1 + len(p.st.steps)))
		defer func() { _, _ = p.w.Write(b.Bytes()) }()
		line = func(step, text string) {
			fmt.Fprintf(&b, "%s %-*s %s\n", stamp, p.st.nameWidth(), step, text)
		}
		fmt.Fprintf(&b, "%s run %s %s%s\n", stamp, p.st.runID, verb, p.st.runSubtitle())
		// Steps a replay or resume takes from the record are known now.
		for _, s := range p.st.steps {
			if s.status != "" && s.status != engine.StepPending && s.status != engine.StepRunning {
				s.printed = true
				text := plainStepText(s)
				if !s.reused && s.reason == "" && s.answer == "" && s.status == engine.StepCompleted {
					// This run's own record from an earlier go: say so, or
					// it reads as if the step ran again.
					text += " (kept from before)"
				}
				line(s.id, text)
			}
		}
	case engine.EventFlowChanged:
		fmt.Fprintf(p.w, "%s run %s %s\n", stamp, e.RunID, flowChangeText(e.Flow))
	case engine.EventStepStarted:
		text := "started"
		if e.Attempt > 1 {
			text = fmt.Sprintf("started (attempt %d)", e.Attempt)
		}
		line(e.Step, text)
	case engine.EventStepRetrying:
		line(e.Step, retryText(e))
	case engine.EventCallRetrying:
		line(e.Step, callRetryText(e))
	case engine.EventLeftoverStopped:
		line(e.Step, leftoverText(e))
	case engine.EventLog:
		// A CI log shows a long step is alive, and what it does, without
		// taking in all it prints (`kitaru logs` has that).
		s := p.st.step(e.Step)
		since := s.started
		if s.lastOut.After(since) {
			since = s.lastOut
		}
		if s.status == engine.StepRunning && s.streamLine != "" && !since.IsZero() && t.Sub(since) >= plainOutputEvery {
			s.lastOut = t
			line(e.Step, "| "+s.streamLine)
		}
	case engine.EventItemFinished:
		line(e.Step, p.st.step(e.Step).items())
	case engine.EventStepFinished:
		if s := p.st.step(e.Step); changed || !s.printed {
			s.printed = true
			line(e.Step, plainStepText(s))
		}
	case engine.EventRunFinished:
		text := fmt.Sprintf("run %s %s", p.st.runID, p.st.runStatus)
		if d, ok := p.st.runElapsed(t); ok && p.st.runStatus != engine.RunWaiting {
			text += " in " + d
		}
		if p.st.continued != "" {
			text += ", " + p.st.continued
		}
		if u := usageText(p.st.usage, p.st.cost, p.st.costKnown); u != "" {
			text += " · " + u
		}
		fmt.Fprintf(p.w, "%s %s\n", stamp, text)
	}
}

func (p *plainProgress) Close() {}

// plainOutputEvery is how often the plain view prints a running step's
// latest output line: a step that runs longer than this shows, every so
// often, the last line it printed. Quick steps print none.
const plainOutputEvery = 10 * time.Second

// plainStepText says how a finished step ended, in one line.
func plainStepText(s *stepState) string {
	switch {
	case s.reused:
		return reusedText(s.reason)
	case s.status == engine.StepCompleted && s.answer != "":
		return "answered " + s.answer
	case s.status == engine.StepCompleted:
		out := "completed " + fmtDuration(s.duration)
		switch {
		case s.total > 0 && s.failed > 0:
			out += " (" + s.items() + ")"
		case s.total > 0:
			out = fmt.Sprintf("completed %d/%d %s", s.done, s.total, fmtDuration(s.duration))
		}
		if u := usageText(s.usage, s.cost, s.costKnown); u != "" {
			out += " " + u
		}
		return out + reasonSuffix(s.reason)
	case s.status == engine.StepFailed:
		return failedWord(s) + ": " + s.errLine
	case s.status == engine.StepSkipped:
		return "skipped" + reasonSuffix(s.reason)
	case s.status == engine.StepWaiting:
		if s.question != "" {
			return "waiting for input: " + s.question
		}
		return "waiting for input"
	}
	return string(s.status)
}

// failedWord is how a failed step's line starts: a failure that
// continue_on_error let pass says so, a foreach step how its items went.
func failedWord(s *stepState) string {
	var notes []string
	if s.continued {
		notes = append(notes, "continued")
	}
	if s.total > 0 {
		notes = append(notes, s.items())
	}
	if len(notes) == 0 {
		return "failed"
	}
	return "failed (" + strings.Join(notes, "; ") + ")"
}

// retryText says a step failed and when it is tried again. The event's
// Attempt is the attempt about to start.
func retryText(e engine.Event) string {
	what := ""
	if e.Item != nil {
		what = fmt.Sprintf("item %d ", *e.Item)
	}
	return fmt.Sprintf("%sattempt %d failed: %s; retrying in %s", what, max(e.Attempt-1, 1), errSummary(e.Error), fmtDuration(e.Delay))
}

// leftoverText says that what a killed kitaru left running of a step was
// stopped before the step runs again.
func leftoverText(e engine.Event) string {
	what := ""
	if e.Item != nil {
		what = fmt.Sprintf("item %d: ", *e.Item)
	}
	return fmt.Sprintf("%sstopped what was left running of its previous attempt (process group %d, orphaned when the kitaru running it died)", what, e.PGID)
}

// reusedText is "reused (why)", or the engine's reason alone when it
// already starts with "reused".
func reusedText(reason string) string {
	if strings.HasPrefix(reason, "reused") {
		return reason
	}
	return "reused" + reasonSuffix(reason)
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// ---- live: a frame redrawn in place ----

type liveProgress struct {
	mu     sync.Mutex
	w      io.Writer
	opts   progressOptions
	st     *runState
	lines  int // lines of the frame on screen, to move back over
	closed bool
	// askSize: the size is the terminal's, asked again for every frame.
	askSize bool
	pending []byte // the start of a message line written through Write

	ticker *time.Ticker
	done   chan struct{}
	wg     sync.WaitGroup
}

func (p *liveProgress) tickLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.ticker.C:
			p.tick()
		}
	}
}

// tick redraws so elapsed times move while nothing else happens.
func (p *liveProgress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && p.st.started && !p.st.finished {
		p.draw()
	}
}

func (p *liveProgress) Event(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if e.Type == engine.EventFlowChanged {
		// Said once, above the frame, as the plain form says it.
		p.printAbove(fmt.Sprintf("run %s %s\n", e.RunID, flowChangeText(e.Flow)))
	}
	p.st.apply(e, p.opts.Now)
	// Streamed text comes a piece at a time: the next tick shows it.
	if p.st.started && e.Type != engine.EventText {
		p.draw()
	}
}

// Close stops the ticker and leaves the final frame on screen.
func (p *liveProgress) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ticker != nil {
		p.ticker.Stop()
	}
	close(p.done)
	if p.st.started {
		p.draw()
	}
	if len(p.pending) > 0 {
		// A message without its final newline: keep it, below the frame.
		io.WriteString(p.w, string(p.pending)+"\n")
		p.pending = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// progressWriter is where other messages of a run (warnings) should go while
// progress is drawn on w: through the live view, which prints them above its
// frame so the in-place redraw stays intact, or straight to w otherwise.
func progressWriter(p progress, w io.Writer) io.Writer {
	if lp, ok := p.(*liveProgress); ok {
		return lp
	}
	return w
}

// Write prints whole lines above the frame and redraws the frame below them;
// a partial line waits for its end (or Close).
func (p *liveProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, b...)
	i := strings.LastIndexByte(string(p.pending), '\n')
	if i < 0 {
		return len(b), nil
	}
	lines := string(p.pending[:i+1])
	p.pending = append(p.pending[:0], p.pending[i+1:]...)
	p.printAbove(lines)
	return len(b), nil
}

// printAbove replaces the frame with text and draws the frame again below.
func (p *liveProgress) printAbove(text string) {
	if p.closed {
		// The final frame stays; later messages go below it.
		io.WriteString(p.w, text)
		return
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", p.lines)
	}
	for _, l := range strings.SplitAfter(text, "\n") {
		if l != "" {
			b.WriteString("\r" + ansiEraseLine + l)
		}
	}
	b.WriteString(ansiEraseBelow)
	io.WriteString(p.w, b.String())
	p.lines = 0
	if p.st.started {
		p.draw()
	}
}

// ANSI sequences the live view uses; the pty test's screen model interprets
// exactly these.
const (
	ansiEraseLine  = "\x1b[2K"
	ansiEraseBelow = "\x1b[J"
	ansiReset      = "\x1b[0m"
	ansiBold       = "\x1b[1m"
	ansiDim        = "\x1b[2m"
	ansiRed        = "\x1b[31m"
	ansiGreen      = "\x1b[32m"
	ansiYellow     = "\x1b[33m"
	ansiBlue       = "\x1b[34m"
	ansiCyan       = "\x1b[36m"
)

// draw replaces the frame on screen with the current one, in one write so a
// terminal never shows half a frame.
func (p *liveProgress) draw() {
	if p.askSize {
		p.opts.Width, p.opts.Height = termSize(p.w)
	}
	frame := p.frame(p.opts.Now())
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", p.lines)
	}
	for _, l := range frame {
		b.WriteString("\r" + ansiEraseLine + l + "\n")
	}
	b.WriteString(ansiEraseBelow)
	p.lines = len(frame)
	io.WriteString(p.w, b.String())
}

// frame renders the view at now: one line per step in flow order, a blank
// line, then the footer.
func (p *liveProgress) frame(now time.Time) []string {
	st := p.st
	width := p.opts.Width
	var out []string
	shown, folded, cut := p.visibleSteps()
	if folded > 0 {
		out = append(out, p.paint(ansiDim, textcut.Runes(fmt.Sprintf("✓ %d more steps finished", folded), width)))
	}
	nameW := st.nameWidth()
	for _, s := range shown {
		sym, colour, text := liveStepText(s, now)
		line := fmt.Sprintf("%-*s %s", nameW, s.id, text)
		line = textcut.Runes(line, width-2)
		out = append(out, p.paint(colour, sym)+" "+p.paintText(s, line))
	}
	if cut > 0 {
		out = append(out, p.paint(ansiDim, textcut.Runes(fmt.Sprintf("· %d more steps not shown", cut), width)))
	}
	out = append(out, "")
	footer := "run " + st.runID
	if st.finished {
		footer += " " + string(st.runStatus)
		if st.continued != "" {
			footer += ", " + st.continued
		}
	}
	if d, ok := st.runElapsed(now); ok {
		footer += " · " + d
	}
	if tok := st.usage.Total(); tok > 0 || st.cost > 0 {
		footer += fmt.Sprintf(" · %s tok", viewInt(tok))
		if st.costKnown {
			footer += " · " + viewCost(st.cost)
		} else {
			footer += " · cost unknown"
		}
	}
	out = append(out, p.paint(ansiBold, textcut.Runes(footer, width)))
	return out
}

// visibleSteps are the steps that fit the terminal's height (the frame has
// two more rows, and one stays free for the cursor): finished steps fold
// into one row first, earliest first; if that is not enough, steps doing
// something (running, failed, waiting) win over pending ones, and one row
// says how many are not shown.
func (p *liveProgress) visibleSteps() (shown []*stepState, folded, cut int) {
	steps := p.st.steps
	room := p.opts.Height - 3
	if p.opts.Height <= 0 || len(steps) <= room {
		return steps, 0, 0
	}
	finished := func(s *stepState) bool {
		return s.reused || s.status == engine.StepCompleted || s.status == engine.StepSkipped
	}
	nFinished := 0
	for _, s := range steps {
		if finished(s) {
			nFinished++
		}
	}
	keep := steps
	if nFinished > 0 {
		room = max(room-1, 1) // the folded row
		excess := len(steps) - room
		keep = nil
		for _, s := range steps {
			if excess > 0 && finished(s) {
				excess--
				folded++
				continue
			}
			keep = append(keep, s)
		}
	}
	if len(keep) <= room {
		return keep, folded, 0
	}
	n := max(room, 1)
	if room >= 2 {
		n = room - 1 // the "not shown" row
	}
	chosen := map[*stepState]bool{}
	for _, pendingToo := range []bool{false, true} {
		for _, s := range keep {
			if len(chosen) < n && (pendingToo || s.status != engine.StepPending) {
				chosen[s] = true
			}
		}
	}
	for _, s := range keep {
		if chosen[s] {
			shown = append(shown, s)
		}
	}
	if room >= 2 {
		cut = len(keep) - len(shown)
	}
	return shown, folded, cut
}

// paint colours s when colours are on.
func (p *liveProgress) paint(colour, s string) string {
	if !p.opts.Color || colour == "" {
		return s
	}
	return colour + s + ansiReset
}

// paintText dims steps that are not doing anything yet and reddens failures.
func (p *liveProgress) paintText(s *stepState, line string) string {
	switch {
	case s.status == engine.StepFailed && !s.reused && s.continued:
		return p.paint(ansiYellow, line) // the run went on
	case s.status == engine.StepFailed && !s.reused:
		return p.paint(ansiRed, line)
	case s.status == engine.StepPending || s.status == "" || s.status == engine.StepSkipped || s.reused:
		return p.paint(ansiDim, line)
	}
	return line
}

// liveStepText is a step's symbol, its colour, and what its line says.
func liveStepText(s *stepState, now time.Time) (sym, colour, text string) {
	switch {
	case s.reused:
		return "↺", ansiCyan, reusedText(s.brief)
	case s.status == engine.StepRunning:
		text = "running"
		if !s.started.IsZero() {
			text += " " + fmtDuration(now.Sub(s.started))
		}
		if s.attempt > 1 {
			text += fmt.Sprintf(" (attempt %d)", s.attempt)
		}
		if s.total > 0 {
			text += " · " + s.items()
		}
		if s.retryNote != "" {
			text += " · " + s.retryNote
		} else if s.streamLine != "" {
			text += " · " + s.streamLine
		}
		return "▸", ansiBlue, text
	case s.status == engine.StepCompleted && s.answer != "":
		return "✓", ansiGreen, "answered " + s.answer
	case s.status == engine.StepCompleted:
		text = "done " + fmtDuration(s.duration)
		switch {
		case s.total > 0 && s.failed > 0:
			text += " · " + s.items()
		case s.total > 0:
			text = fmt.Sprintf("done %d/%d %s", s.done, s.total, fmtDuration(s.duration))
		}
		if u := usageText(s.usage, s.cost, s.costKnown); u != "" {
			text += " · " + u
		}
		return "✓", ansiGreen, text + reasonSuffix(s.brief)
	case s.status == engine.StepFailed:
		text = failedWord(s)
		if s.continued {
			return "✗", ansiYellow, text + ": " + s.errLine
		}
		return "✗", ansiRed, text + ": " + s.errLine
	case s.status == engine.StepSkipped:
		return "-", ansiDim, "skipped" + reasonSuffix(s.brief)
	case s.stopped:
		text = "stopped after " + fmtDuration(s.duration)
		if s.total > 0 {
			text += " · " + s.items()
		}
		return "■", ansiYellow, text
	case s.status == engine.StepWaiting:
		text = "waiting for input"
		if s.question != "" {
			text += ": " + s.question
		}
		return "?", ansiYellow, text
	}
	return "·", ansiDim, "pending"
}

// ---- formatting shared by both views ----

// usageText is "350 tok $0.0004", "350 tok" when the price is unknown, or ""
// when no tokens were used (checkpoints, the offline mock).
func usageText(u providers.Usage, cost float64, costKnown bool) string {
	tok := u.Total()
	if tok == 0 && (!costKnown || cost == 0) {
		return ""
	}
	out := viewInt(tok) + " tok"
	if costKnown {
		out += " " + viewCost(cost)
	}
	return out
}

func viewInt(n int) string {
	s := fmt.Sprint(n)
	if n < 10000 {
		return s
	}
	// Thousands separators only where they help reading.
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func viewCost(c float64) string {
	switch {
	case c == 0:
		return "$0"
	case c < 0.0001:
		return "<$0.0001"
	case c < 1:
		return fmt.Sprintf("$%.4f", c)
	}
	return fmt.Sprintf("$%.2f", c)
}

// firstLine is the first non-empty line of s, trimmed, with controls
// shown as escapes: an error or a question may quote a command's stderr or
// a model's text, and an escape sequence in it would break the redraw.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return textsafe.Escape(l)
		}
	}
	return ""
}

// stderrTail is how a command's error introduces the end of its stderr,
// quoted on the lines after it (engine/executors).
const stderrTail = "; stderr ends with:"

// errSummary is an error in one line: its first, and when that only
// introduces the command's stderr quoted below it, the last line quoted
// there (what a command says last is most often why it failed); with
// nothing quoted, the introduction goes.
func errSummary(s string) string {
	first := firstLine(s)
	if !strings.HasSuffix(first, stderrTail) {
		return first
	}
	_, rest, _ := strings.Cut(strings.TrimLeft(s, " \t\r\n"), "\n")
	lines := strings.Split(rest, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return first + " " + textsafe.Escape(l)
		}
	}
	return strings.TrimSuffix(first, stderrTail)
}
