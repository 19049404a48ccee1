package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// DamagedError is a file of a run that cannot be used: missing, cut short
// (a crash or a full disk while an older kitaru wrote it), or edited by
// hand. It names the file, what is wrong and what to do.
type DamagedError struct {
	RunID   string
	Path    string
	Problem string // "is missing", "is damaged (unexpected end of JSON input)"
	Fix     string // what to do, as a sentence
}

func (e *DamagedError) Error() string {
	return e.Path + " " + e.Problem + "; " + e.Fix
}

// DamagedRuns are the runs List could not read; the runs it could are
// still returned beside it.
type DamagedRuns []*DamagedError

func (d DamagedRuns) Error() string {
	msgs := make([]string, len(d))
	for i, e := range d {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// runFix is what to do about a run whose own files (run.json, plan.json,
// flow.yaml) are damaged: nothing of it can be shown or continued.
func (s *FileStore) runFix(id string) string {
	return setAside(id, s.runDir(id))
}

// setAside is what to do about a run, at dir, with a damaged file of its
// own.
func setAside(id, dir string) string {
	return fmt.Sprintf("run %s cannot be used as it is: repair the file, or set the run aside by moving %s out of %s", id, dir, filepath.Dir(dir))
}

// stepFix is what to do about a damaged step record. Retry runs a step
// without a record in a run that did not complete; a completed run is
// never continued, so a replay from the step is the way there.
func stepFix(id, step string) string {
	return fmt.Sprintf("move it away and step %s counts as never run: `kitaru replay %s --from %s` runs it again in a new run (or `kitaru retry %s`, if the run did not complete)", step, id, step, id)
}

// missingRecord is the error for a step whose record a replay reuses but
// that has gone from the run holding it (moved away, deleted).
func missingRecord(run, step string) error {
	return fmt.Errorf("the record of step %s in run %s is missing; `kitaru replay %s --from %s` runs that step again instead of reusing it", step, run, run, step)
}

// diskFull adds to an error caused by a full disk (ENOSPC, or EDQUOT: the
// quota is used up) what to do: the records written so far are whole, so
// the run continues where it stopped.
func diskFull(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w; the disk is full: free some space, then `kitaru resume %s` continues the run", err, id)
	case errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w; the disk is full (the quota is used up): free some space, then `kitaru resume %s` continues the run", err, id)
	}
	return err
}

// unwritable is the error a run stops with when a step's or item's record
// cannot be written: the step did not fail (resume runs it again), the
// store did, so it says what to do about the store.
func unwritable(err error, id string) error {
	if d := diskFull(err, id); d != err {
		return d
	}
	return fmt.Errorf("%w; once the run's records can be written again (a read-only or failing disk?), `kitaru resume %s` continues the run", err, id)
}
