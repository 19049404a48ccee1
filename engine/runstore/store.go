// Package runstore is the durable record of runs: the records themselves
// (Run, StepResult, Event, ...) and Store, the interface every backend
// implements. The engine writes through a Store and knows nothing of how a
// backend keeps its records; a backend knows nothing of flows.
//
// Backends: filestore (plain files under the data directory, the default)
// and memstore (in memory, for tests). A new backend (PostgreSQL, a bucket)
// implements Store and passes the conformance suite in storetest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) runstore.Store { return newStore(t) })
//	}
//
// Run references ("last", id prefixes) are resolved once, above every
// backend, by Resolve.
//
// Records and errors hold facts, not words for people: what a person can
// do about a failure is a Remedy (see RemedyOf), which each front end words
// its own way (the command line as a command to run).
package runstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is the durable run store. Every method takes a context: a backend
// that talks to a server gives up when it ends. Once a method that writes
// returns nil, what it wrote survives a crash of this process and of the
// machine.
type Store interface {
	Runs
	Steps
	Journal
	Coordination
	Cache
}

// Runs keeps each run's meta and flow snapshot.
type Runs interface {
	// NewID makes a fresh run id ("kr-" and a random suffix) not in use.
	NewID(ctx context.Context) (string, error)
	// Create records a new run (its meta and flow snapshot) and leases it
	// to holder for ttl (as Acquire), as one step: others see the run
	// whole and leased, or not at all, even if this process dies part-way.
	Create(ctx context.Context, meta *RunMeta, flowSource []byte, holder Holder, ttl time.Duration) (*Lease, error)
	// SaveMeta replaces the run's meta atomically.
	SaveMeta(ctx context.Context, meta *RunMeta) error
	// LoadMeta reads the run's meta; LoadSummary reads it without Plan and
	// Reused (what a list and a replay's source need). A missing run wraps
	// ErrNotFound; a run whose records are damaged is a *DamagedError.
	LoadMeta(ctx context.Context, id string) (*RunMeta, error)
	LoadSummary(ctx context.Context, id string) (*RunMeta, error)
	// FlowSource returns the run's flow snapshot.
	FlowSource(ctx context.Context, id string) ([]byte, error)
	// ReplaceFlow replaces the run's flow snapshot with flowSource, its
	// plan with meta.Plan and its meta with meta (FlowRev one more), as one
	// step: a crash leaves the three old or the three new, and a reader
	// sees one set whole. Replay sources it no longer matches are not its
	// concern (earlier snapshots may be kept).
	ReplaceFlow(ctx context.Context, meta *RunMeta, flowSource []byte) error
	// Exists says whether run id exists (damaged or not), without reading
	// its records: what resolving a full id needs.
	Exists(ctx context.Context, id string) (bool, error)
	// Query returns the summaries of the runs q selects, newest first (by
	// StartedAt, then id), a page at a time. Runs that cannot be read are
	// reported in a DamagedRuns error beside the page; they are not
	// counted in its Limit.
	Query(ctx context.Context, q Query) (Page, error)
	// Delete removes the run of lease l, which the caller holds, with
	// every record of it (steps, items, turns, artifacts, journal, log),
	// and ends the lease. It is one step, even if this process dies
	// part-way: others find the run whole, or not at all (no method finds,
	// lists or resolves it; it wraps ErrNotFound). It fails wrapping
	// ErrLeaseLost when l is no longer the run's, and touches nothing then.
	// It does not look at which runs reuse the run's records: the caller
	// decides whether it may go.
	Delete(ctx context.Context, l *Lease) error
}

// Steps keeps step and foreach item results and their artifacts.
type Steps interface {
	// SaveStep records a step's result atomically; once it returns, the
	// step is done for good and no resume or retry runs it again. Its
	// Items are not part of it (SaveItem records each).
	SaveStep(ctx context.Context, id string, r *StepResult) error
	// LoadStep reads a step's record (nil, nil when it has none).
	LoadStep(ctx context.Context, id, step string) (*StepResult, error)
	// LoadSteps reads every step record of the run; a damaged one is
	// reported in the error (a *DamagedError) while the others are still
	// returned.
	LoadSteps(ctx context.Context, id string) (map[string]*StepResult, error)
	// SaveItem and LoadItems do the same for the items of a foreach step.
	SaveItem(ctx context.Context, id, step string, r *ItemResult) error
	LoadItems(ctx context.Context, id, step string) (map[int]*ItemResult, error)
	// SaveTurn records one piece of an llm step's conversation (of a
	// foreach item when r.Item is set) atomically; once it returns, that
	// model turn or tool call is done for good and a resume does not redo
	// it. A record of the same step, item, conversation, turn and call
	// replaces the earlier. LoadTurns reads the step's (or item's, item
	// not nil) in order of conversation, turn, then call.
	SaveTurn(ctx context.Context, id, step string, r *TurnRecord) error
	LoadTurns(ctx context.Context, id, step string, item *int) ([]*TurnRecord, error)
	// ForgetStep removes a step's record (not its items or artifacts) so
	// that the step runs again: retry of a failed step.
	ForgetStep(ctx context.Context, id, step string) error
	// Writes to a run that does not exist fail wrapping ErrNotFound.
	//
	// WriteArtifact keeps a named blob beside a step's record; like the
	// journal, a backend may make artifacts durable only when the run's
	// lease is released (a step's record holds what its run needs): the
	// prompt sent, the answer received. ReadArtifact reads it back (an error
	// wrapping ErrNoArtifact when there is none); Artifacts names them.
	// DeleteArtifact removes one (nil when there was none).
	WriteArtifact(ctx context.Context, id, step, name string, data []byte) error
	ReadArtifact(ctx context.Context, id, step, name string) ([]byte, error)
	Artifacts(ctx context.Context, id, step string) ([]string, error)
	DeleteArtifact(ctx context.Context, id, step, name string) error
}

// Journal keeps a run's events and log lines, each numbered in order from
// 1, so a follower reads only what is new.
type Journal interface {
	// AppendEvents adds events to the run's journal in order, numbering
	// them (the Seq of the events given is ignored). Every event tells of a
	// record already durable on its own (a step's result, the run's meta),
	// so a backend may group their writes: the events of a run are durable
	// once its lease is released, and a crash before then may lose the
	// last ones, never reorder or tear them.
	AppendEvents(ctx context.Context, id string, evs ...Event) error
	// Events returns the events numbered after `after`, at most limit (0:
	// all); those of a run that does not exist, an error wrapping
	// ErrNotFound. A record that cannot be read (a torn last line after a crash)
	// is skipped and reported as a warning.
	Events(ctx context.Context, id string, after int64, limit int) (evs []Event, warnings []string, err error)
	// AppendLog adds lines to the run's log; Logs returns those numbered
	// after `after`. Log lines are for people: a crash may lose the last
	// ones. A line that cannot be read is left out and reported beside
	// the others, as a *DamagedError of PartLog (the first such line).
	AppendLog(ctx context.Context, id string, lines ...LogLine) error
	Logs(ctx context.Context, id string, after int64) ([]LogLine, error)
}

// Coordination lets processes agree on who runs a run, and asks a running
// one to stop.
type Coordination interface {
	// Acquire leases the run to holder for ttl; it fails with a *HeldError
	// while another holder's lease is live. A lease whose holder died or
	// expired is free.
	Acquire(ctx context.Context, id string, holder Holder, ttl time.Duration) (*Lease, error)
	// Renew extends a lease by its ttl; it fails (wrapping ErrLeaseLost)
	// if the lease was lost meanwhile. Release gives it up.
	Renew(ctx context.Context, l *Lease) error
	Release(ctx context.Context, l *Lease) error
	// Holder tells who holds the run's lease now (nil: nobody).
	Holder(ctx context.Context, id string) (*Holder, error)

	// RequestCancel asks whoever holds the run's lease now to stop.
	// CancelRequested tells whether a cancel was asked since lease l was
	// taken: one asked before (of an earlier go at the run) is not for
	// it, and one asked the moment after is, however early that is. It
	// fails wrapping ErrLeaseLost when l is no longer the run's.
	// ClearCancel forgets the requests.
	RequestCancel(ctx context.Context, id string) error
	CancelRequested(ctx context.Context, l *Lease) (bool, error)
	ClearCancel(ctx context.Context, id string) error
}

// Query selects runs. Zero fields select everything.
type Query struct {
	Flow     string
	Status   RunStatus
	IDPrefix string // runs whose id starts with it ("kr-" included)
	Limit    int    // at most this many per page; <= 0: all
	Cursor   string // Page.Next of the previous page; "" : the first
}

// Page is one page of a Query.
type Page struct {
	Runs []*RunMeta
	Next string // "" when this is the last page
}

// Holder names who runs a run: a process on a host.
type Holder struct {
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
}

// Lease is a run leased to one holder until Expires. A zero Expires never
// expires by time: the backend frees it when its holder dies (the file
// store's lock is freed by the kernel). Token identifies the lease to its
// backend.
type Lease struct {
	RunID   string
	Holder  Holder
	Token   string
	TTL     time.Duration
	Expires time.Time
}

// ErrNotFound is wrapped by errors about runs that do not exist.
var ErrNotFound = errors.New("run not found")

// ErrNoArtifact is wrapped by ReadArtifact when the artifact does not exist.
var ErrNoArtifact = errors.New("no such artifact")

// ErrLeaseLost is wrapped by Renew when the lease is no longer held.
var ErrLeaseLost = errors.New("the run's lease was lost")

// CheckArtifactName refuses a name no artifact may have: empty, starting
// with a dot, holding a path separator, or the name of a step's own
// records. Every backend refuses the same names.
func CheckArtifactName(step, name string) error {
	if name == "" || name == "result.json" || name == "items" || name == "turns" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%q cannot name an artifact of step %s", name, step)
	}
	return nil
}

// Locator is implemented by a store whose records have a place people can
// go to: Locate(id, "", "") is where run id is, Locate(id, step, "") where
// a step's records are, and a name the place of that record or artifact
// (the file store: directories and files). The command line shows them.
type Locator interface {
	Locate(id, step, name string) string
}

// RecordWriter is a Store that writes many records of a run at once (a
// database: in one round trip and one transaction, all or none): a copy
// of one store into another writes a run's records through it.
type RecordWriter interface {
	SaveRecords(ctx context.Context, id string, recs []Record) error
}

// Record is one record for SaveRecords, of step Step: its Result, an
// Item, a Turn, or the artifact Artifact holding Data (one of them).
type Record struct {
	Step     string
	Result   *StepResult
	Item     *ItemResult
	Turn     *TurnRecord
	Artifact string
	Data     []byte
}

// Tidier is a Locator of notes alone (the process groups a machine's
// commands run in, beside a store that keeps no files): Tidy removes the
// places of run id that hold nothing any more, once a go at it is over.
type Tidier interface {
	Tidy(id string)
}
