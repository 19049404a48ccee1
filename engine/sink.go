package engine

import (
	"errors"
	"time"

	"github.com/kitaruhq/kitaru/engine/work"
)

// A unit is its executor's work.Sink: what the executor logs, keeps or
// prints is masked here and written to the run's store.
var _ work.Sink = (*unit)(nil)

// work is the unit as its executor sees it.
func (u *unit) work() *work.Unit {
	return &work.Unit{RunID: u.x.meta.ID, Step: u.step, Item: u.item, Scope: u.scope, Env: u.env,
		Dir: u.x.workDir(), Model: u.x.caller, Cache: runCache{u.x}, MCP: u.x.mcpServers(),
		Children: childRunner{x: u.x, step: u.step.ID, item: u.item}}
}

// Mask masks s (see mask).
func (u *unit) Mask(s string) string { return u.mask(s) }

// MaskValue masks every string in v.
func (u *unit) MaskValue(v any) any { return u.value(v) }

// Output is the step's output from a command's or a model's text.
func (u *unit) Output(text string) (any, error) { return u.output(text) }

// AddSecrets masks values too from now on.
func (u *unit) AddSecrets(values []string) { u.red = u.red.with(values) }

// Log adds lines to the run's log.
func (u *unit) Log(text string) { u.log(text) }

// Capture takes in a stream of the unit's command.
func (u *unit) Capture(stream string, keep, logLimit int64, over func()) work.Capture {
	return &sinkCapture{c: newCapture(u, stream, keep, logLimit, over), u: u}
}

// Artifact keeps a blob beside the step's record, named per item. It is
// written off the unit's path, so that the unit frees its place among the
// run's parallel ones sooner; the run waits for its artifacts before it
// ends.
func (u *unit) Artifact(name, ext string, data []byte) {
	x, file := u.x, u.artifact(name, ext)
	x.artifacts.Add(1)
	go func() {
		defer x.artifacts.Done()
		_ = x.st.WriteArtifact(x.sc, x.meta.ID, u.step.ID, file, data)
	}()
}

// ProcessRecord is beside the step's records, in a store that keeps files.
func (u *unit) ProcessRecord() string {
	loc := u.x.e.processNotes()
	if loc == nil {
		return ""
	}
	return loc.Locate(u.x.meta.ID, u.step.ID, u.artifact("pgid", ""))
}

// LeftoverStopped journals that a previous attempt's processes were stopped.
func (u *unit) LeftoverStopped(pgid int) {
	u.x.emit(Event{Type: EventLeftoverStopped, Step: u.step.ID, Item: u.item, PGID: pgid})
}

// sinkCapture is a capture as an executor sees it.
type sinkCapture struct {
	c *capture
	u *unit
}

func (s *sinkCapture) Write(p []byte) (int, error) { return s.c.Write(p) }
func (s *sinkCapture) Flush()                      { s.c.flush() }
func (s *sinkCapture) Over() bool                  { return s.c.over }
func (s *sinkCapture) Kept() []byte                { return s.c.kept }
func (s *sinkCapture) Text() string                { return s.c.maskedText(s.u) }
func (s *sinkCapture) Drop()                       { s.c.kept = nil }

// stoppedLikeTheRun says whether err is a unit's work ended by a signal
// that stops kitaru too (see work.Stopped).
func stoppedLikeTheRun(err error) bool {
	var st work.Stopped
	return errors.As(err, &st) && st.StoppedLikeTheRun()
}

// runSignalGrace is how long a unit whose work died of SIGINT or SIGTERM
// waits for the run's context to end too before it counts as a failure.
var runSignalGrace = 2 * time.Second

// workDir is the directory the run's commands run in ("" : the process's).
func (x *execution) workDir() string { return x.meta.WorkDir }
