package engine

import (
	"errors"
	"fmt"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// missingRecord is the error for a step whose record run replay reuses
// but that has gone from the run holding it, home (moved away, deleted):
// a replay of the replay from that step runs it again (home may be gone
// whole).
func missingRecord(home, step, replay string) error {
	return runstore.Advise(fmt.Errorf("the record of step %s in run %s is missing", step, home), runstore.Remedy{Do: runstore.RemedyReplayStep, Run: replay, Step: step})
}

// homeGone is the error of step of run id, reused from run home, which
// is gone as a whole (removed by hand): a replay of id runs the step again.
func homeGone(id, step, home string) error {
	return runstore.Advise(fmt.Errorf("step %s was reused from run %s, which is gone (removed since), so its record is lost", step, home), runstore.Remedy{Do: runstore.RemedyReplay, Run: id})
}

// diskFull adds to an error caused by a full disk (ENOSPC, or EDQUOT: the
// quota is used up) what to do: the records written so far are whole, so
// the run continues where it stopped.
func diskFull(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, runstore.ErrNoSpace):
		return runstore.Advise(fmt.Errorf("%w; the disk is full", err), runstore.Remedy{Do: runstore.RemedyFreeSpace, Run: id})
	case errors.Is(err, runstore.ErrQuota):
		return runstore.Advise(fmt.Errorf("%w; the disk is full (the quota is used up)", err), runstore.Remedy{Do: runstore.RemedyFreeSpace, Run: id})
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
	return runstore.Advise(err, runstore.Remedy{Do: runstore.RemedyFixStore, Run: id})
}

// damaged is a DamagedError about a record of run id that the engine found
// unusable (a flow snapshot that no longer loads), placed where the store
// says the record is.
func (e *Engine) damaged(id string, part runstore.Part, problem string) *DamagedError {
	de := &DamagedError{RunID: id, Part: part, Problem: problem, Where: string(part) + " record of run " + id}
	if loc, ok := e.store.(runstore.Locator); ok {
		de.Home = loc.Locate(id, "", "")
		de.Where = loc.Locate(id, "", map[runstore.Part]string{runstore.PartFlow: "flow.yaml", runstore.PartPlan: "plan.json"}[part])
	}
	return de
}
