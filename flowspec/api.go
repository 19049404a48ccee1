// Package flowspec turns a flow file into a validated, compiled flow: typed
// inputs, steps with compiled expressions, and the dependency graph.
package flowspec

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Pos is a place in a flow file, 1-based.
type Pos struct{ Line, Col int }

// Kind is what a step does.
type Kind string

// The step kinds of the flow format.
const (
	KindLLM        Kind = "llm"
	KindCheckpoint Kind = "checkpoint"
	KindWait       Kind = "wait"
	KindFlow       Kind = "flow"
)

// Flow is a loaded, validated and compiled flow. It is immutable after Load
// and safe for concurrent use.
type Flow struct {
	File string // the path it was loaded from, as given
	// Dir is the absolute directory of the flow file, where its steps run
	// (see the spec's "Working directory"); "" when it was loaded from no
	// file of its own (Parse, stdin, a pipe): the current directory then.
	Dir         string
	Name        string
	Description string
	Inputs      []*Input // in YAML order
	Defaults    Defaults
	Budget      Budget       // the top-level budget:; zero fields set no limit
	Steps       []*Step      // in YAML order (display order)
	Tools       []*Tool      // tools:, in YAML order
	MCP         []*MCPServer // mcp:, in YAML order
	Output      *Template    // nil when the flow declares no output
	Source      []byte       // the file as read, kept for the run's snapshot
	// Uses are the models and secrets the flow names, in file order, for
	// the checks only the machine that runs it can make (is the alias
	// registered here, does the secret exist). A lazy load leaves it empty.
	Uses []Use

	byID map[string]*Step
	topo []*Step
	succ map[string][]string
}

// UseKind is what a Use names.
type UseKind string

const (
	UseModel  UseKind = "model"  // a model: value (an alias or provider/model)
	UseSecret UseKind = "secret" // a name in a secrets: list
)

// Use is one place a flow names a model or a secret.
type Use struct {
	Kind UseKind
	Name string
	Pos  Pos
}

// Input is a declared flow input.
type Input struct {
	Name        string
	Type        string // string | integer | number | boolean | list | object
	Description string
	Default     any
	HasDefault  bool // an input without a default is required
	Pos         Pos
}

// Retry says how often a step is tried and how long to wait between tries.
type Retry struct {
	Attempts int           // at least 1
	Backoff  time.Duration // base of the exponential backoff
}

// Defaults apply to every step that does not set its own.
type Defaults struct {
	Model     string
	Fallbacks []string // the models after Model when defaults.model is a list
	Retry     Retry
	Timeout   time.Duration
	// MaxOutput is the bytes of stdout a run: step may print; 0 is
	// DefaultMaxOutput. llm and value steps ignore it.
	MaxOutput int64
	Cache     Cache // for llm steps
}

// Step is one compiled step.
type Step struct {
	ID          string
	Kind        Kind
	Description string
	Pos         Pos

	// Deps are every step this one depends on: its needs plus every step its
	// expressions reference, deduplicated, in YAML order.
	Deps []string
	// IfOnlyDeps are the deps referenced only inside `if` (and not in needs):
	// when one of them is skipped this step still runs its `if`.
	IfOnlyDeps map[string]bool

	If *Template // nil: always
	// IfAfterFailure: the step's `if` calls failure() or always(), so it is
	// decided even when a dependency failed or was skipped; without either,
	// success() is implied and such a dependency skips the step.
	IfAfterFailure bool
	// ContinueOnError: the step's failure does not fail the run, and the
	// steps after it run as if it had completed (as GitHub Actions'
	// continue-on-error: the outcome is a failure, the conclusion a success).
	ContinueOnError bool
	Retry           Retry // defaults applied
	Timeout         time.Duration
	Foreach         *Template // nil unless the step fans out; yields a list
	OutputJSON      bool      // `output: json`

	LLM        *LLMStep        // set when Kind == KindLLM
	Checkpoint *CheckpointStep // set when Kind == KindCheckpoint
	Wait       *WaitStep       // set when Kind == KindWait
	Sub        *FlowStep       // set when Kind == KindFlow

	// fp is the step's fingerprint, hashed on first use (see Fingerprint):
	// a replay from the last step of a long run needs only that step's.
	fp     string
	fpOnce sync.Once
	// InputRefs are the flow inputs the step's expressions read, sorted.
	InputRefs []string
	// Items is set for a foreach step: what one item's work depends on
	// besides its value, so that a replay can reuse an item whose value
	// and these are unchanged even when the list around it changed.
	Items *ItemBasis
}

// ItemBasis is what each item of a foreach step depends on besides its
// value: everything in the step's fingerprint except what only its
// `foreach:` reads (that reaches an item only as the item's value).
type ItemBasis struct {
	// step is the step the basis is of; fp its Fingerprint, made on
	// first use.
	step   *Step
	fp     string
	fpOnce sync.Once
	// Steps and Inputs are the deps and the inputs read by something
	// other than foreach (needs, if, the prompt or command), in the
	// orders of Deps and InputRefs.
	Steps  []string
	Inputs []string
	// Index: the step reads index, so an item's position is part of it.
	Index bool
}

// Fingerprint is a stable hash of the step's definition with defaults
// applied; a replay compares it to decide what changed.
func (s *Step) Fingerprint() string {
	s.fpOnce.Do(func() { s.fp = fingerprint(s) })
	return s.fp
}

// Fingerprint hashes the step's definition without its foreach.
func (b *ItemBasis) Fingerprint() string {
	b.fpOnce.Do(func() { b.fp = itemFingerprint(b.step) })
	return b.fp
}

// LLMStep is the body of an llm step.
type LLMStep struct {
	Model string // the step's model, else defaults.model; "" resolves at run time
	// Fallbacks are the models tried in order after Model when it gives
	// no answer (model: [a, b] sets Model a, Fallbacks [b]).
	Fallbacks   []string
	System      *Template
	Prompt      *Template // exactly one of Prompt and Messages is set
	Messages    []Message
	Temperature *float64 // nil: the provider's default
	MaxTokens   int      // 0: kitaru's default
	// Tools are the tools the model may call (tools:); MaxTurns bounds
	// the model calls of its loop (DefaultMaxTurns when tools are set).
	Tools    []*Tool
	MCP      []MCPUse // the SERVER.TOOL and SERVER.* of its tools:, in order
	MaxTurns int
	// Schema, when set, is the JSON Schema the answer must follow; the
	// step's output is then the parsed answer. SchemaRetries is how many
	// times an answer that breaks it is asked for again (defaults
	// applied: DefaultSchemaRetries).
	Schema        *AnswerSchema
	SchemaRetries int
	// Cache says whether its answer may come from an earlier run's
	// identical call (defaults applied; see cache.go).
	Cache Cache
}

// DefaultSchemaRetries is how many times an llm step with a schema asks
// again for an answer that broke it; MaxSchemaRetries is the most a flow
// may ask for, since every one is a paid call.
const (
	DefaultSchemaRetries = 2
	MaxSchemaRetries     = 10
)

// Message is one chat message of an llm step.
type Message struct {
	Role    string
	Content *Template
}

// CheckpointStep is the body of a checkpoint step: exactly one of Run and
// Value is set.
type CheckpointStep struct {
	Run     *Template
	Stdin   *Template
	Env     []EnvVar
	Dir     *Template
	Secrets []string
	// MaxOutput is the bytes of stdout the command may print (defaults
	// applied); 0 is DefaultMaxOutput.
	MaxOutput int64
	Value     *Template
}

// EnvVar is one environment variable of a run: step.
type EnvVar struct {
	Name  string
	Value *Template
}

// WaitStep is the body of a wait step.
type WaitStep struct {
	Question *Template
	Schema   map[string]any // JSON Schema of the answer; nil accepts any JSON
}

// Scope is what expressions see when they are evaluated. Steps only needs
// the step's own dependencies.
type Scope struct {
	Inputs   map[string]any
	Steps    map[string]StepState
	RunID    string
	FlowName string
	Item     any // inside foreach
	Index    int // inside foreach
	Args     any // inside a tool: the call's arguments
	// Failed: a step this one depends on, directly or further up, failed
	// (without continue_on_error): what failure() and success() of an
	// `if` say.
	Failed bool
}

// StepState is what an expression can read of another step.
type StepState struct {
	Output any    `expr:"output" json:"output"`
	Status string `expr:"status" json:"status"`
	// Error is the message of a failed step, "" otherwise.
	Error string `expr:"error" json:"error,omitempty"`
}

// Options tune Load and Parse.
type Options struct {
	// CheckModel, when set, is called for every non-empty `model:` value (of
	// a step and of defaults); its error becomes a positioned validation
	// error. flowspec itself knows nothing about aliases or providers.
	CheckModel func(model string) error
	// Lazy compiles each expression when it is first evaluated instead of
	// at load. It is for a run's own flow snapshot, which was fully checked
	// when the run started: the YAML, the structure and the graph are still
	// read and checked, but type errors in expressions surface only when a
	// step evaluates them (as a positioned *ErrorList from Eval, Render or
	// Bool). A lazily loaded flow has the same steps, graph, order and
	// fingerprints as a fully loaded one. Never use it for a flow a user
	// gives: validate and run load fully.
	Lazy bool
	// SubFlows, when set, holds the sources of the flow's sub-flows (kind:
	// flow steps) by path as Flow.SubFlows gives them: a run's snapshot
	// loads them from its record, not from files that may have changed.
	SubFlows map[string][]byte

	sub subLoad // where a sub-flow being loaded sits (see subflow.go)
}

// Error is one problem in a flow file, at a position.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ErrorList is every problem found in a flow file, sorted by position. Load
// and Parse return it as a *ErrorList.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// InputError is a flow input that cannot be bound: missing, unknown, or of
// the wrong type.
type InputError struct {
	Input string // the input's name
	Type  string // the declared type; "" for an unknown input
	Msg   string // the whole sentence
}

func (e *InputError) Error() string { return e.Msg }
