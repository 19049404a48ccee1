package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// stepDirs is where the given steps of run id keep their records, and
// their commands note their process groups (see executors.StopLeftovers):
// only a store that keeps files has any (nil).
func (e *Engine) stepDirs(id string, steps []string) map[string]string {
	loc := e.processNotes()
	if loc == nil {
		return nil
	}
	dirs := make(map[string]string, len(steps))
	for _, s := range steps {
		dirs[s] = loc.Locate(id, s, "")
	}
	return dirs
}

// processNotes is where the process groups of commands are noted: beside
// the records of a store that keeps files, else where Config says.
func (e *Engine) processNotes() runstore.Locator {
	if loc, ok := e.store.(runstore.Locator); ok {
		return loc
	}
	return e.cfg.ProcessNotes
}

// tidyNotes removes what is left of run id's process notes when they are
// kept apart from the store (a store that keeps no files): the
// directories its commands' notes were in.
func (e *Engine) tidyNotes(id string) {
	if _, files := e.store.(runstore.Locator); files {
		return
	}
	if t, ok := e.cfg.ProcessNotes.(runstore.Tidier); ok {
		t.Tidy(id)
	}
}

// leftoverNote is the log line of a leftover group stopped, or that could
// not be, and why it was stopped; src is the run that left it, when it is
// not the run the line is in.
func leftoverNote(l executors.Leftover, src, why string) string {
	what := "what was left running of it"
	if src != "" {
		what = "what run " + src + " left running of it"
	}
	if l.Err != nil {
		return fmt.Sprintf("%s (process group %d, orphaned when the kitaru running it died) %v; stop it with kill -- -%d", what, l.PGID, l.Err, l.PGID)
	}
	return fmt.Sprintf("stopped %s %s: process group %d (%d processes), orphaned when the kitaru running it died", what, why, l.PGID, l.N)
}

// stopLeftovers stops what a dead kitaru left running of any step of a run
// that is ending without running again (cancelled while nobody held it):
// no resume will stop it. Each group stopped, or that cannot be, is said
// in the run's log and journal.
func (e *Engine) stopLeftovers(ctx context.Context, meta *RunMeta) {
	steps := make([]string, len(meta.Plan))
	for i, ps := range meta.Plan {
		steps[i] = ps.ID
	}
	for _, l := range executors.StopLeftovers(ctx, e.stepDirs(meta.ID, steps)) {
		now := time.Now().UTC()
		_ = e.store.AppendLog(ctx, meta.ID, LogLine{Time: now, Step: l.Step, Item: l.Item, Text: leftoverNote(l, "", "as the run was cancelled")})
		if l.Err == nil {
			_ = e.store.AppendEvents(ctx, meta.ID, Event{Time: now, Type: EventLeftoverStopped, RunID: meta.ID, Step: l.Step, Item: l.Item, PGID: l.PGID})
		}
	}
}

// stopSourceLeftovers stops, for a replay about to run steps again (its
// reasons name them), what its source run src left running of them (its kitaru killed while they
// ran): the two never run side by side, as with a resume. The source is
// leased meanwhile, so that a resume of it starting now is not disturbed;
// one that holds it stops them itself. Each group is said in the
// replay's log and events.
func (x *execution) stopSourceLeftovers(ctx context.Context, src string) {
	e := x.e
	steps := make([]string, 0, len(x.reasons))
	for id := range x.reasons { // the steps that run again
		steps = append(steps, id)
	}
	dirs := e.stepDirs(src, steps)
	if !executors.LeftoversNoted(dirs) {
		return // the usual case: the source's kitaru was not killed
	}
	l, err := e.store.Acquire(ctx, src, e.cfg.Holder, e.leaseTTL())
	if err != nil {
		if !errors.As(err, new(*HeldError)) {
			e.warn(fmt.Errorf("cannot check what run %s left running of the steps this replay runs again: %w", src, err))
		}
		return
	}
	defer func() { _ = e.store.Release(ctx, l) }()
	for _, lo := range executors.StopLeftovers(ctx, dirs) {
		x.appendLog(LogLine{Time: time.Now().UTC(), Step: lo.Step, Item: lo.Item,
			Text: leftoverNote(lo, src, "before running it again")})
		if lo.Err == nil {
			x.emit(Event{Type: EventLeftoverStopped, Step: lo.Step, Item: lo.Item, PGID: lo.PGID})
		}
	}
}
