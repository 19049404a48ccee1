// Package engine executes compiled flows durably: every step's result is
// recorded the moment it finishes, and any run can be resumed, retried or
// replayed without redoing finished work. It knows nothing about terminals:
// progress leaves as Events for an Observer.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// RunStatus is where a run stands.
type RunStatus string

// Run statuses, as in the command-line contract.
const (
	RunRunning     RunStatus = "running"
	RunWaiting     RunStatus = "waiting"
	RunCompleted   RunStatus = "completed"
	RunFailed      RunStatus = "failed"
	RunCancelled   RunStatus = "cancelled"
	RunInterrupted RunStatus = "interrupted"
)

// StepStatus is where a step stands.
type StepStatus string

// Step statuses, as in the command-line contract.
const (
	StepPending   StepStatus = "pending"
	StepRunning   StepStatus = "running"
	StepWaiting   StepStatus = "waiting"
	StepCompleted StepStatus = "completed"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
)

// Run is the run record: what `--json` prints for run, replay, resume, input
// and executions get. The fields of the contract are fixed; the rest are
// additions.
type Run struct {
	ID       string          `json:"id"`
	Flow     string          `json:"flow"`
	Status   RunStatus       `json:"status"`
	ReplayOf *string         `json:"replay_of"`
	Inputs   map[string]any  `json:"inputs"`
	Output   any             `json:"output"`
	Error    *string         `json:"error"`
	Usage    providers.Usage `json:"usage"`
	CostUSD  float64         `json:"cost_usd"`
	Steps    []StepResult    `json:"steps"`

	FlowFile  string     `json:"flow_file,omitempty"` // the path the flow was loaded from
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Dir       string     `json:"dir,omitempty"` // where the run's files are
	// WorkDir is where its commands run: the flow file's directory (the
	// current one for a flow from stdin or a pipe). Resume, retry and
	// replay use it wherever they are started; "" (a run recorded before
	// it was kept): the current directory of each.
	WorkDir  string              `json:"work_dir,omitempty"`
	Registry *providers.Registry `json:"registry,omitempty"` // the model registry snapshot it resolved with
	// ReplayFrom and Overrides describe how a replay was asked for.
	ReplayFrom string         `json:"replay_from,omitempty"`
	Overrides  map[string]any `json:"overrides,omitempty"`
}

// StepResult is one step of a run record.
type StepResult struct {
	ID         string        `json:"id"`
	Kind       flowspec.Kind `json:"kind"`
	Status     StepStatus    `json:"status"`
	Attempts   int           `json:"attempts"`
	Reused     bool          `json:"reused"`
	Output     any           `json:"output"`
	Error      *string       `json:"error"`
	DurationMS int64         `json:"duration_ms"`
	Model      string        `json:"model,omitempty"`
	Alias      string        `json:"alias,omitempty"`
	Credential string        `json:"credential_source,omitempty"`
	// Mock: KITARU_LLM_MOCK_RESPONSE answered; no model was called.
	Mock bool `json:"mock,omitempty"`
	// Masked: secret values in its output or error were replaced by ***
	// (for a foreach step, in one of its items); the next steps received
	// the masked text.
	Masked  bool            `json:"masked,omitempty"`
	Usage   providers.Usage `json:"usage"`
	CostUSD *float64        `json:"cost_usd"` // null when the model's price is unknown
	// Usage and CostUSD count every attempt, failed ones too: each request
	// that reached a provider was paid for. AttemptsDetail lists each
	// attempt of a step that ran more than once (a foreach step's items
	// list their own).
	AttemptsDetail []Attempt `json:"attempts_detail,omitempty"`

	// Reason says, for a replay or retry, why the step ran or was reused
	// ("upstream of --from", "fingerprint changed", "overridden", ...).
	Reason    string     `json:"reason,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Dir       string     `json:"dir,omitempty"` // the step's record, artifacts and log
	// Items are the per-item units of a foreach step, in order.
	Items []ItemResult `json:"items,omitempty"`
	// Wait is set for a wait step.
	Wait *WaitInfo `json:"wait,omitempty"`
	// Fingerprint is the hash of the step's definition, the inputs it read
	// and its dependencies' fingerprints: a replay compares it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// ReusedFrom is the run whose record a reused step comes from.
	ReusedFrom string `json:"reused_from,omitempty"`
}

// ItemResult is one item of a foreach step.
type ItemResult struct {
	Index      int             `json:"index"`
	Status     StepStatus      `json:"status"`
	Attempts   int             `json:"attempts"`
	Reused     bool            `json:"reused"`
	Output     any             `json:"output"`
	Error      *string         `json:"error"`
	DurationMS int64           `json:"duration_ms"`
	Masked     bool            `json:"masked,omitempty"`
	Usage      providers.Usage `json:"usage"`
	CostUSD    *float64        `json:"cost_usd"`
	// AttemptsDetail lists each attempt of an item that ran more than once.
	AttemptsDetail []Attempt `json:"attempts_detail,omitempty"`
}

// Attempt is one try of a step or item: how it ended and what it spent.
type Attempt struct {
	Attempt    int             `json:"attempt"`
	Error      *string         `json:"error"` // null for the attempt that succeeded
	DurationMS int64           `json:"duration_ms"`
	Usage      providers.Usage `json:"usage"`
	CostUSD    *float64        `json:"cost_usd"`
}

// WaitInfo is the question of a wait step and, once given, its answer.
type WaitInfo struct {
	Question string         `json:"question"`
	Schema   map[string]any `json:"schema,omitempty"`
	// Deadline is when the wait's own timeout runs out; an answer after
	// it fails the step (retry asks again).
	Deadline *time.Time `json:"deadline,omitempty"`
	Answered bool       `json:"answered"`
	Answer   any        `json:"answer,omitempty"`
}

// EventType names what happened.
type EventType string

// The events a run emits, in order of a run's life.
const (
	EventRunStarted   EventType = "run_started"   // Run is set (steps pending or reused)
	EventStepStarted  EventType = "step_started"  // Step, Attempt
	EventStepRetrying EventType = "step_retrying" // Step, Attempt, Error, Delay
	EventItemFinished EventType = "item_finished" // Step, Item, Done/Total
	EventStepFinished EventType = "step_finished" // Step, Result (completed, failed, skipped, waiting, reused)
	// EventLeftoverStopped: before a step (Step, Item) runs again, what
	// was left running of its previous attempt, process group PGID, was
	// stopped (the kitaru running it had died without stopping it).
	EventLeftoverStopped EventType = "leftover_stopped"
	EventRunFinished     EventType = "run_finished" // Run is the final record
)

// Event is one thing that happened in a run. Events are also the lines of
// the run's journal.
type Event struct {
	Time    time.Time     `json:"time"`
	Type    EventType     `json:"type"`
	RunID   string        `json:"run"`
	Step    string        `json:"step,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
	Item    *int          `json:"item,omitempty"`
	Done    int           `json:"done,omitempty"` // foreach: items finished
	Total   int           `json:"total,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"`
	Error   string        `json:"error,omitempty"`
	PGID    int           `json:"pgid,omitempty"` // leftover_stopped: the process group
	Result  *StepResult   `json:"result,omitempty"`
	Run     *Run          `json:"run_record,omitempty"`
}

// Observer receives a run's events. The engine calls it from one goroutine
// at a time, in order; it must not block for long.
type Observer interface {
	Event(Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(Event)

// Event calls f.
func (f ObserverFunc) Event(e Event) { f(e) }

// Models gives the engine model callers. New runs resolve with Current;
// resume and retry with the run's own snapshot; replay with Current
// falling back to the source run's snapshot for aliases it lacks.
type Models interface {
	Current() (providers.Registry, error)
	Caller(reg providers.Registry) providers.Caller
}

// Config is what an Engine is built from.
type Config struct {
	Store   Store          // nil: the file store under fsutil.DataDir()
	Models  Models         // nil: llm steps fail with "no provider configured"
	Secrets keyring.Getter // for checkpoint `secrets:`; nil: none available
	// Mask are values masked in every step's records and log: the provider
	// keys in this process's environment, which every `run:` command
	// inherits (providers.EnvCredentials).
	Mask     []string
	Observer Observer // nil: events are only journaled
	Parallel int      // default for runs that do not say; <= 0: 8
}

// StartOptions start a new run.
type StartOptions struct {
	Flow     *flowspec.Flow
	Inputs   map[string]any // already bound with Flow.BindInputs
	Parallel int
}

// ReplayOptions make a new run from a recorded one.
type ReplayOptions struct {
	Source string // run reference: id, prefix or "last"
	// From re-executes this step and its descendants; "" compares
	// fingerprints instead.
	From string
	// Overrides set steps' outputs; their consumers re-execute.
	Overrides map[string]any
	// Inputs are given inputs (strings from --input are coerced to the
	// declared types); they overlay the source run's inputs.
	Inputs map[string]any
	// Flow replays against an edited flow; nil uses the source's snapshot.
	Flow     *flowspec.Flow
	Parallel int
}

// ListFilter narrows executions list.
type ListFilter struct {
	Flow   string
	Status RunStatus
	Limit  int
}

// LogLine is one recorded log line of a run.
type LogLine struct {
	Time time.Time `json:"time"`
	Step string    `json:"step,omitempty"`
	Item *int      `json:"item,omitempty"`
	Text string    `json:"text"`
}

// Runner is what the command line drives. *Engine implements it.
type Runner interface {
	Start(ctx context.Context, opts StartOptions) (*Run, error)
	// Resume continues a run in place. Steps run at least once: a step
	// whose process died before its result was recorded runs again.
	Resume(ctx context.Context, ref string, parallel int) (*Run, error)
	Retry(ctx context.Context, ref string, parallel int) (*Run, error)
	// Replay makes a new run. In the record it returns, the Output of a
	// reused step the replay never needed is read from its record only
	// when marshalled or formatted (OutputValue gives the plain value), so
	// a replay costs what it re-executes; Get returns plain values.
	Replay(ctx context.Context, opts ReplayOptions) (*Run, error)
	// Answer records the answer to a waiting step ("" when only one
	// waits); the caller resumes the run if it wants to.
	Answer(ctx context.Context, ref, step string, value json.RawMessage) (*Run, error)
	// Abort ends a waiting run cancelled.
	Abort(ctx context.Context, ref, step string) (*Run, error)
	// Cancel asks a running run (possibly in another process) to stop at
	// the next safe point; a run not running is marked cancelled at once.
	Cancel(ctx context.Context, ref string) (*Run, error)
	Get(ctx context.Context, ref string) (*Run, error)
	// List returns the runs it can read; the ones it cannot are named in
	// a DamagedRuns error returned beside them.
	List(ctx context.Context, f ListFilter) ([]*Run, error)
	// Logs sends the recorded log lines to fn; with follow it keeps
	// sending until the run is no longer running or ctx ends.
	Logs(ctx context.Context, ref, step string, follow bool, fn func(LogLine) error) error
}

// UsageError is an error the user caused with what they asked for (an
// unknown step selector, an input of the wrong type, an answer the schema
// refuses, a run held by another process). The command line exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by errors about runs that do not exist.
var ErrNotFound = errors.New("run not found")

// Store is the durable run store. The file store under the data directory is
// the embedded default; a shared store (PostgreSQL, a bucket) would implement
// the same parts, which are defined in store.go.
type Store interface {
	RunRecords
	StepRecords
	RunJournal
	RunCoordination
}
