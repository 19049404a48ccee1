package runstore

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Part names which record of a run is damaged.
type Part string

// The parts of a run a DamagedError can name.
const (
	PartMeta Part = "meta" // run.json: status, inputs, times
	PartPlan Part = "plan" // the steps in order, what a replay reused
	PartFlow Part = "flow" // the flow snapshot
	PartStep Part = "step" // a step's record (Step)
	PartItem Part = "item" // a foreach item's record (Step, Item)
	// PartJournal is what numbers the run's journal and log (a shared
	// store's counters): without it nothing more can be appended.
	PartJournal Part = "journal"
	PartLog     Part = "log" // a line of the run's log (Line)
)

// DamagedError is a record of a run that cannot be used: missing, cut
// short (a crash or a full disk while an older kitaru wrote it), or edited
// by hand.
type DamagedError struct {
	RunID string
	Part  Part
	Step  string
	Item  int
	Line  int64 // PartLog: the line's number
	// Where names the record for people (the file store: its path); Home
	// is where the whole run is (its directory), "" if it has no place.
	Where string
	Home  string
	// Problem is what is wrong: "is missing", "is damaged (unexpected end
	// of JSON input)".
	Problem string
}

func (e *DamagedError) Error() string {
	return e.Where + " " + e.Problem + "; " + e.fix()
}

// fix is what to do with the record, as a sentence; for a step, what
// runs it again is a Remedy (see RemedyOf). A run's own records (meta,
// plan, flow) are all of it: nothing can be shown or continued until
// repaired.
func (e *DamagedError) fix() string {
	switch e.Part {
	case PartStep:
		return fmt.Sprintf("move it away and step %s counts as never run", e.Step)
	case PartItem:
		return fmt.Sprintf("move it away and item %d of step %s counts as never run (a resume or retry runs it again, unless the run completed)", e.Item, e.Step)
	case PartLog:
		return "it is left out, and the run's other lines and records are read as they are"
	}
	if e.Home == "" {
		return fmt.Sprintf("run %s cannot be used as it is: repair the record, or delete the run", e.RunID)
	}
	return fmt.Sprintf("run %s cannot be used as it is: repair the file, or set the run aside by moving %s out of %s", e.RunID, e.Home, filepath.Dir(e.Home))
}

// DamagedRuns are the runs a Query could not read; the runs it could are
// still returned beside it.
type DamagedRuns []*DamagedError

func (d DamagedRuns) Error() string {
	msgs := make([]string, len(d))
	for i, e := range d {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// HeldError says another holder has the run's lease.
type HeldError struct {
	RunID  string
	Holder Holder
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.Holder.PID > 0 {
		who = "process " + strconv.Itoa(e.Holder.PID)
	}
	if e.Holder.Host != "" {
		// On a shared store the holder may be another machine's process.
		who += " on " + e.Holder.Host
	}
	return "run " + e.RunID + " is being run by " + who
}

// ErrNoSpace and ErrQuota are what a store's writes fail with when its
// disk is full or its quota used up; errors.Is tells them whatever the
// backend (for the file store, the system's own ENOSPC and EDQUOT are
// them: see space_unix.go).
var (
	ErrNoSpace error = errNoSpace
	ErrQuota   error = errQuota
)
