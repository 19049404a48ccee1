// Package work is the contract between the engine and the executors that
// do a step's work: the engine hands an Executor one unit (a step, or one
// item of a foreach step) with what it may read, and a Sink through which
// the unit logs, keeps artifacts and masks secrets; the Executor returns
// the unit's result. The engine decides when units run, retries them,
// records their results and stops them; an executor knows nothing of
// runs, stores or scheduling. Executors live in package executors; a
// remote or Temporal-activity executor implements the same interface.
package work

import (
	"context"
	"errors"
	"io"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// Unit is one piece of work.
type Unit struct {
	RunID string
	Step  *flowspec.Step
	Item  *int             // the item's index, for an item of a foreach step
	Scope *flowspec.Scope  // what its expressions read: inputs, dependencies, item
	Env   []string         // KEY=value of the secrets a command asked for
	Dir   string           // the directory commands run in ("" : the process's)
	Model providers.Caller // for llm steps; nil: none configured
	Cache Cache            // for llm steps with cache:; nil: no cache
	MCP   MCP              // the run's MCP servers, for llm steps offering their tools; nil: none
	// Children runs sub-flows as child runs of the unit's run, for the
	// flow: tools of llm steps; nil: none can run.
	Children Children
}

// Children runs sub-flows as child runs.
type Children interface {
	// Run runs sub with inputs as the child run key names (what in the
	// unit calls it, the same in every go at the run: a resumed loop finds
	// the child of a call that was recorded unfinished) to its end. Its
	// Output is the child's output, Child its id; a child that fails or
	// waits is an error naming it.
	Run(ctx context.Context, sub *flowspec.FlowStep, inputs map[string]any, key string) (*Result, error)
}

// MCP is a run's Model Context Protocol servers (the flow's mcp:), shared
// by its units: a server starts the first time a unit asks for it and
// stops when the run's go ends (MCPRun.Close).
type MCP interface {
	// Tools lists what the server serves, starting it the first time.
	Tools(ctx context.Context, server *flowspec.MCPServer) ([]MCPTool, error)
	// Call calls one of its tools. An error wrapping ErrMCPServerDown
	// says the server is gone (it died, its connection broke): the step
	// fails. Any other error, or a result with IsError, is the tool's
	// failure, which goes back to the model.
	Call(ctx context.Context, server *flowspec.MCPServer, tool string, args map[string]any) (*MCPResult, error)
	// Masked are the values the server was given that must not be
	// recorded (its secrets), once it has started.
	Masked(server *flowspec.MCPServer) []string
}

// ErrMCPServerDown is what MCP.Call wraps when the server is gone.
var ErrMCPServerDown = errors.New("the MCP server is not running")

// MCPTool is a tool as its server lists it.
type MCPTool struct {
	Name        string
	Description string
	InputSchema map[string]any // a JSON Schema of its arguments
}

// MCPResult is what a tool call returned: its text, or its structured
// content when it has some.
type MCPResult struct {
	Output  any
	IsError bool
}

// MCPRun is the MCP servers of one go at a run, which the engine closes
// when it ends.
type MCPRun interface {
	MCP
	Close()
}

// MCPHost is what the servers of a run need of the engine.
type MCPHost interface {
	// Env is the KEY=value of the secrets named (a server's secrets:),
	// given to its process beside kitaru's environment.
	Env(secrets []string) ([]string, error)
	// SecretKey is the value of key of secret name, for a header a URL
	// server is sent (secret:NAME/KEY).
	SecretKey(name, key string) (string, error)
	// Dir is where a stdio server runs ("": the process's directory).
	Dir() string
	// ProcessRecord is where a stdio server notes its process group while
	// it runs, for a later go to stop what a killed kitaru left of it;
	// "": nowhere (a store that keeps no files).
	ProcessRecord(server string) string
	// Log adds a line a server printed on its stderr to the run's log,
	// masked with the run's secrets and masked.
	Log(server, line string, masked []string)
}

// ErrBudgetSpent is what a Unit's Model caller returns, without calling,
// once the run has spent its budget. An executor stops there (it tries no
// other model) and returns it, wrapped, with what it spent before: the
// engine holds the unit back, unrecorded, for a resume with a larger
// budget.
var ErrBudgetSpent = errors.New("the run's budget is spent")

// Result is what a unit produced.
type Result struct {
	Output     any
	Model      string
	Alias      string
	Credential string
	Mock       bool
	Usage      providers.Usage
	Cost       *float64
	Wait       *runstore.WaitInfo // a wait step now waits for an answer
	// Turns are an llm step's model calls of this attempt's conversation
	// (the records of earlier goes at it too), when they say more than
	// the result's own fields: more than one call, a tool call, a model
	// of the list that gave no answer. Usage and Cost count only the
	// calls this go made.
	Turns []runstore.Turn
	Tries []runstore.Attempt // filled by the engine, after retries
	// Cached is the cache entry an llm step's answer came from (its Text
	// left out): no call was made, Usage is zero and Cost zero.
	Cached *runstore.CacheEntry
	// Child is the run a flow step (or a flow tool) started, kept in the
	// step's record.
	Child string
}

// Executor does one kind of step. An attempt that failed after spending (a
// model answered, then its answer was not JSON) returns its result, with
// the usage and cost, beside the error.
type Executor interface {
	Execute(ctx context.Context, u *Unit, sink Sink) (*Result, error)
}

// Sink is what a unit writes through. Every text it is given is masked
// (secret values become ***) before it is kept anywhere.
type Sink interface {
	// Mask masks a text, MaskValue every string in a value; Output turns
	// what a command or a model printed into the step's output (text, or
	// parsed JSON for `output: json`), masked.
	Mask(s string) string
	MaskValue(v any) any
	Output(text string) (any, error)
	// AddSecrets masks these values too from now on (the key a model
	// call was sent with, which a server may echo).
	AddSecrets(values []string)
	// Log adds lines to the run's log.
	Log(text string)
	// Capture takes in one stream of a command (stdout, stderr): keep is
	// how much of it to keep for the output (0: only its end, for an error
	// message), logLimit how much of it the log may hold; over is called
	// once it printed more than keep.
	Capture(stream string, keep, logLimit int64, over func()) Capture
	// Artifact keeps a named blob beside the unit's record (the prompt
	// sent, the answer received); per item for an item.
	Artifact(name, ext string, data []byte)
	// ProcessRecord is where a command's process group may be noted while
	// it runs, so that a later attempt can stop what a dead kitaru left
	// running ("" : nowhere, nothing is noted). LeftoverStopped says one
	// was stopped.
	ProcessRecord() string
	LeftoverStopped(pgid int)
	// Stream takes in one model call's answer as it arrives, and its
	// retries, to be shown while the unit runs (see TextStream).
	Stream() TextStream
}

// Capture is one stream of a command, taken in as it is printed.
type Capture interface {
	io.Writer
	// Flush ends the stream (its last line reaches the log).
	Flush()
	// Over says it printed more than it may keep.
	Over() bool
	// Kept is what was kept of it, unmasked; Text the same, masked.
	// Drop lets the kept bytes go once they are no longer needed.
	Kept() []byte
	Text() string
	Drop()
}

// Stopped is an error of a unit whose work was ended by a signal that
// stops kitaru too (Ctrl-C reaches a command's process group): the engine
// waits a moment for its own stop before calling it a failure.
type Stopped interface {
	StoppedLikeTheRun() bool
}

// Loop is what an llm step's conversation (a tool loop, asking again for
// the schema) needs of the engine beside its Sink, which implements it
// too: its records, each durable once SaveTurn returns (so a resume does
// not call the model or run a tool again for what is recorded), and the
// run's parallel slots for the tool calls of a turn.
type Loop interface {
	LoadTurns(ctx context.Context) ([]*runstore.TurnRecord, error)
	SaveTurn(ctx context.Context, r *runstore.TurnRecord) error
	// Parallel runs every fn, each in a place of the run's --parallel (the
	// unit gives up its own meanwhile), and returns when all have ended;
	// once ctx ends, the fns not started are not.
	Parallel(ctx context.Context, fns []func())
}
