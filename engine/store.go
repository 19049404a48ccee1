package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/flowspec"
)

// The durable run store is four small parts (Store in api.go joins them),
// so that another backend can mix them: run and step records in a database
// or a bucket, the journal in an append-only table, and locks and cancel
// requests through what that backend offers (advisory locks, leases). The
// file store (filestore.go) is the embedded default and implements all
// four. Records are addressed by run id; a step record of a run is the
// source of truth for that step: once SaveStep returns, the step is done
// for good and no resume or retry runs it again.

// RunRecords keeps each run's meta (run.json) and flow snapshot.
type RunRecords interface {
	// NewID makes a fresh run id ("kr-" + random suffix) not in use yet.
	NewID() (string, error)
	// Create makes the run's home, writes its meta and flow snapshot and
	// takes its lock (as Lock), all as one step: other processes see the
	// run whole and held, or not at all, even if this process dies
	// part-way. It sets meta.Dir where LoadMeta would (every record of
	// the run names its home, the one a run command prints too).
	Create(meta *RunMeta, flowSource []byte) (unlock func(), err error)
	// SaveMeta replaces the run's meta (run.json) atomically.
	SaveMeta(meta *RunMeta) error
	// LoadMeta reads the run's meta; a missing run wraps ErrNotFound, a
	// run whose files are damaged or missing is a *DamagedError.
	// LoadSummary reads it without Plan and Reused (what List and a
	// replay's source need).
	LoadMeta(id string) (*RunMeta, error)
	LoadSummary(id string) (*RunMeta, error)
	// FlowSource returns the run's flow snapshot.
	FlowSource(id string) ([]byte, error)
	// Resolve turns a reference (full id, unambiguous prefix with or
	// without "kr-", or "last") into a run id.
	Resolve(ref string) (string, error)
	// List returns every readable run meta, newest first; runs that
	// cannot be read are reported in a DamagedRuns error beside them.
	List() ([]*RunMeta, error)
}

// StepRecords keeps step and foreach item results and their artifacts.
type StepRecords interface {
	// SaveStep records a step's result atomically; LoadStep reads it back
	// (nil, nil when the step has no record). LoadSteps reads every step
	// record of the run, keyed by step id; a damaged record is reported in
	// the error (a *DamagedError naming its file) while the others are
	// still returned.
	SaveStep(id string, r *StepResult) error
	LoadStep(id, step string) (*StepResult, error)
	LoadSteps(id string) (map[string]*StepResult, error)
	// SaveItem and LoadItems do the same for the items of a foreach step.
	SaveItem(id, step string, r *ItemResult) error
	LoadItems(id, step string) (map[int]*ItemResult, error)
	// ForgetStep removes a step's record (not its items or artifacts) so
	// the step runs again: retry of a failed step.
	ForgetStep(id, step string) error
	// PrepareSteps creates the directories of steps about to run, all at
	// once, so that recording each step does not have to.
	PrepareSteps(id string, steps []string) error
	// WriteArtifact keeps a file next to a step's record (prompt.json, ...).
	WriteArtifact(id, step, name string, data []byte) error
	// StepDir is where a step's record, artifacts and items are.
	StepDir(id, step string) string
}

// RunJournal keeps a run's event journal and its log lines.
type RunJournal interface {
	// Append adds an event to the run's journal; with sync it is on disk
	// when Append returns. Journal reads it back; lines that cannot be read
	// (a torn last line after a crash) are skipped and reported as warnings.
	Append(id string, e Event, sync bool) error
	Journal(id string) (events []Event, warnings []string, err error)
	// AppendLog adds lines to the run's log; Logs reads them in order.
	AppendLog(id string, lines ...LogLine) error
	Logs(id string) ([]LogLine, error)
}

// RunCoordination lets processes agree on who runs a run and asks a
// running one to stop.
type RunCoordination interface {
	// Lock makes this process the run's only runner; it fails with a
	// *HeldError when another process holds it. A lock whose holder died is
	// free. Held reports whether some process holds the run now.
	Lock(id string) (unlock func(), err error)
	Held(id string) (pid int, held bool, err error)

	// RequestCancel asks the process running the run to stop;
	// CancelRequested tells whether that was asked; ClearCancel forgets it.
	RequestCancel(id string) error
	CancelRequested(id string) bool
	ClearCancel(id string) error
}

// RunMeta is what run.json holds: the run record without its steps, plus
// what the engine needs to continue the run.
type RunMeta struct {
	Run
	Parallel int `json:"parallel,omitempty"`
	// Reused lists the steps a replay took from earlier runs, grouped by
	// the run whose directory holds their records: nothing is copied.
	Reused    []ReusedGroup `json:"reused,omitempty"`
	UpdatedAt time.Time     `json:"updated_at"`
	// Plan is the flow's steps in display order, so a record can be shown
	// without compiling the flow again.
	Plan []PlanStep `json:"-"`
	// Index is written when a run stops: the status and fingerprint of
	// each step whose record is in this run's directory. A replay reads it
	// (and its source's Reused) instead of every step record.
	Index map[string]IndexEntry `json:"index,omitempty"`
	// Earlier is what earlier goes at steps and items tried and paid for
	// that no record of theirs holds (see Spend): the failed records of
	// steps `kitaru retry` runs again, and the attempts of steps ("ID") and
	// foreach items ("ID#N") that a stop or an unwritable record left
	// without a record. Their next record folds it in.
	Earlier map[string]Spend `json:"earlier,omitempty"`
	// ReuseNotes are, for steps a replay with --from reused although they
	// no longer match the flow replayed, what changed ("its definition
	// changed in the edited flow"): their reason says it.
	ReuseNotes map[string]string `json:"reuse_notes,omitempty"`
}

// PlanStep is one step of a run's plan.
type PlanStep struct {
	ID      string        `json:"id"`
	Kind    flowspec.Kind `json:"kind"`
	Foreach bool          `json:"foreach,omitempty"`
}

// IndexEntry is one step of a run's index. On disk it is one string,
// "<status> <fingerprint>", so the index of a big run stays small.
type IndexEntry struct {
	Status      StepStatus
	Fingerprint string
	Run         string // where the record is; "" : this run (not stored)
}

// MarshalJSON writes "<status> <fingerprint>".
func (ie IndexEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(string(ie.Status) + " " + ie.Fingerprint)
}

// UnmarshalJSON reads "<status> <fingerprint>".
func (ie *IndexEntry) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	st, fp, _ := strings.Cut(s, " ")
	ie.Status, ie.Fingerprint = StepStatus(st), fp
	return nil
}

// MarshalJSON writes a plan step as "<id> <kind>[ foreach]".
func (p PlanStep) MarshalJSON() ([]byte, error) {
	s := p.ID + " " + string(p.Kind)
	if p.Foreach {
		s += " foreach"
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads "<id> <kind>[ foreach]".
func (p *PlanStep) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return fmt.Errorf("plan step %q is not \"<id> <kind>\"", s)
	}
	p.ID, p.Kind, p.Foreach = f[0], flowspec.Kind(f[1]), len(f) > 2 && f[2] == "foreach"
	return nil
}

// ReusedGroup is a set of steps reused from one run, all with one status.
type ReusedGroup struct {
	Run    string     `json:"run"`
	Status StepStatus `json:"status"`
	Steps  []string   `json:"steps"`
}

// reusedRef is where a reused step's record lives and its status.
type reusedRef struct {
	Run    string
	Status StepStatus
}

func (m *RunMeta) reused() map[string]reusedRef {
	out := map[string]reusedRef{}
	for _, g := range m.Reused {
		for _, s := range g.Steps {
			out[s] = reusedRef{Run: g.Run, Status: g.Status}
		}
	}
	return out
}

// reuseReason says why a replay reused a step.
func (m *RunMeta) reuseReason(step, from string) string {
	if m.ReplayFrom != "" {
		r := "reused from " + from + ": not downstream of --from " + m.ReplayFrom
		if n := m.ReuseNotes[step]; n != "" {
			r += ", though " + n
		}
		return r
	}
	return "reused from " + from + ": fingerprint unchanged"
}

// HeldError says another process is running the run.
type HeldError struct {
	RunID string
	PID   int
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + itoa(e.PID)
	}
	return "run " + e.RunID + " is being run by " + who + "; wait for it or `kitaru executions cancel " + e.RunID + "`"
}
