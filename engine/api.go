// Package engine executes compiled flows durably: every step's result is
// recorded the moment it finishes, and any run can be resumed, retried or
// replayed without redoing finished work.
//
// It is given its parts: a run store (runstore.Store: the file store, or
// any backend passing runstore/storetest), model callers (Models) and
// secrets. It decides what runs next with the pure functions of package
// plan and drives them with goroutines. It knows nothing of terminals or
// of where records live: progress leaves as Events, to an Observer and to
// subscriptions (events.go).
package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// Observer receives a run's events, in order, from a goroutine of its own
// (see events.go): a slow one delays only itself. A run's Start, Resume,
// Retry or Replay returns once the Observer has had its every event.
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
	// WorkDir is where the commands of a flow that has no file (read from
	// stdin or a pipe) run: the process's current directory.
	WorkDir string
	// Warn hears of problems no record holds (a journal line that could
	// not be written); nil: nobody.
	Warn func(error)
	// Executors gives each step its executor; nil: package executors'.
	Executors func(*flowspec.Step) (work.Executor, error)
	// MCP connects a go at a run to its flow's MCP servers (mcp:), which
	// it starts as steps ask for them and Close stops when the go ends;
	// nil: package mcptools'.
	MCP func(work.MCPHost) work.MCPRun
	// Holder is who this engine's leases of runs name (its process and
	// host): what another process is told of a run it cannot take.
	Holder   runstore.Holder
	Parallel int // default for runs that do not say; <= 0: 8
	// Now is the clock the cache of answers ages by (cache: {ttl});
	// nil: time.Now.
	Now func() time.Time
	// LeaseTTL is how long a run's lease lasts without renewal on a store
	// whose leases expire (a shared one): how soon another machine may take
	// over a run whose runner died. <= 0: 30 s.
	LeaseTTL time.Duration
	// ProcessNotes is where a store that keeps no files (a shared
	// database) has this machine note the process groups of the commands
	// it runs, so that a resume here stops what a killed kitaru left
	// running; nil: such a store notes none. A store that keeps files
	// notes them beside its records.
	ProcessNotes runstore.Locator
}

// StartOptions start a new run.
type StartOptions struct {
	Flow     *flowspec.Flow
	Inputs   map[string]any // already bound with Flow.BindInputs
	Parallel int
	// Budget's limits (--max-cost, --max-tokens) win over the flow's.
	Budget flowspec.Budget
	// NoCache: llm steps take no answer from the cache (--no-cache); the
	// run's resumes and retries keep it.
	NoCache bool
	// OnCreated, when set, hears the new run's id once the run is
	// recorded (and leased), before its first step: a caller that runs
	// Start in the background learns which run it started. Resume and
	// Retry need none: they continue the run they are given.
	OnCreated func(id string)
	// Detach returns once the run is started, for a runner that runs it
	// elsewhere (on Temporal); the engine's own loop refuses it.
	Detach bool
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
	// Budget's limits win over the replayed flow's budget:. The replay's
	// budget counts only what it spends (reused steps cost it nothing).
	Budget  flowspec.Budget
	NoCache bool // as StartOptions'
	// OnCreated is as StartOptions': it hears the replay's id.
	OnCreated func(id string)
}

// ListFilter narrows executions list.
type ListFilter struct {
	Flow   string
	Status RunStatus
	Limit  int
}

// Runner is what the command line drives. *Engine implements it.
type Runner interface {
	Start(ctx context.Context, opts StartOptions) (*Run, error)
	// Resume continues a run in place. Steps run at least once: a step
	// whose process died before its result was recorded runs again.
	// A run its budget stopped (failed, budget_exceeded) is resumed as
	// Retry does. WithBudget raises (or lowers) its budget.
	Resume(ctx context.Context, ref string, parallel int, opts ...ContinueOption) (*Run, error)
	Retry(ctx context.Context, ref string, parallel int, opts ...ContinueOption) (*Run, error)
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

// Store is the durable run store (see runstore.Store): the command line
// gives the engine one, the file store by default.
type Store = runstore.Store
