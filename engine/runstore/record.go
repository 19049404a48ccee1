package runstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/flowspec"
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
	ID       string         `json:"id"`
	Flow     string         `json:"flow"`
	Status   RunStatus      `json:"status"`
	ReplayOf *string        `json:"replay_of"`
	Inputs   map[string]any `json:"inputs"`
	Output   any            `json:"output"`
	Error    *string        `json:"error"`
	// Remedy is the way out of a run stopped by its store (the disk is
	// full: free space, then resume), for a front end to word.
	Remedy  *Remedy         `json:"remedy,omitempty"`
	Usage   providers.Usage `json:"usage"`
	CostUSD float64         `json:"cost_usd"`
	Steps   []StepResult    `json:"steps"`

	// Ending says how the run's last go ended; Error is then only what
	// went wrong, as the failed step or the store said it. A record of an
	// older kitaru has no Ending and a sentence in Error.
	Ending *Ending `json:"ending,omitempty"`
	// Budget is what the run may spend on model calls (its flow's budget:
	// under --max-cost and --max-tokens of its last go); nil: no limit.
	Budget *flowspec.Budget `json:"budget,omitempty"`

	FlowFile  string     `json:"flow_file,omitempty"` // the path the flow was loaded from
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// ActiveMS is how long the run's goes took, summed (each from its
	// start to its stop): unlike EndedAt-StartedAt it leaves out the time
	// it sat interrupted or waiting between them. 0 in records of a
	// kitaru that did not keep it.
	ActiveMS int64 `json:"active_ms,omitempty"`
	// Dir is where the run's files are, for a store that keeps files; the
	// command line fills it for people, no store record holds it.
	Dir string `json:"dir,omitempty"`
	// WorkDir is where its commands run: the flow file's directory (the
	// current one for a flow from stdin or a pipe). Resume, retry and
	// replay use it wherever they are started; "" (a run recorded before
	// it was kept): the current directory of each.
	WorkDir  string              `json:"work_dir,omitempty"`
	Registry *providers.Registry `json:"registry,omitempty"` // the model registry snapshot it resolved with
	// ReplayFrom and Overrides describe how a replay was asked for.
	ReplayFrom string         `json:"replay_from,omitempty"`
	Overrides  map[string]any `json:"overrides,omitempty"`
	// Parent is, for the child run of a flow step, the run and step (and
	// item) that started it; nil for a run started on its own.
	Parent *ParentRef `json:"parent,omitempty"`
}

// ParentRef names where a child run was started: a flow step of run Run
// (its item Item, for a foreach step).
type ParentRef struct {
	Run  string `json:"run"`
	Step string `json:"step"`
	Item *int   `json:"item,omitempty"`
	// Call is, for a flow: tool's child, the tool call that started it
	// ("CONVERSATION.TURN.CALL").
	Call string `json:"call,omitempty"`
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
	// Turns are the model calls of an llm step's last attempt, its
	// conversation (see Turn), when they say more than the step's own
	// fields: more than one call (a tool loop, asking again for an answer
	// that follows the schema), a tool call, a model of the step's list
	// that gave no answer. Usage and CostUSD count every call.
	Turns []Turn `json:"turns,omitempty"`

	// Continued: the step failed, but with continue_on_error, so its
	// failure did not fail the run and the steps after it ran.
	Continued bool `json:"continued,omitempty"`
	// Remedy is the way out a failed step's error offers (a secret to set,
	// a model to register), for a front end to word beside Error.
	Remedy *Remedy `json:"remedy,omitempty"`
	// Why says, for a replay, why the step ran or was reused, and for a
	// skipped step why it was. Reason is what an older kitaru wrote
	// instead, a sentence; new records leave it empty.
	Why       *Reason    `json:"why,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// Dir is where the step's record and artifacts are, for a store that
	// keeps files; like Run.Dir, filled by the command line.
	Dir string `json:"dir,omitempty"`
	// Items are the per-item units of a foreach step, in order.
	Items []ItemResult `json:"items,omitempty"`
	// ItemCount is how many items the list of a foreach step that has not
	// ended yields, when its Items are only the finished ones (a run
	// interrupted or running); 0 when not known. Filled when a record is
	// read, from the journal, never stored in a step record.
	ItemCount int `json:"item_count,omitempty"`
	// Wait is set for a wait step.
	Wait *WaitInfo `json:"wait,omitempty"`
	// Fingerprint is the hash of the step's definition, the inputs it read
	// and its dependencies' fingerprints: a replay compares it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// ReusedFrom is the run whose record a reused step comes from.
	ReusedFrom string `json:"reused_from,omitempty"`
	// ChildRun is the run a flow step started (see Run.Parent).
	ChildRun string `json:"child_run,omitempty"`
}

// ItemResult is one item of a foreach step.
type ItemResult struct {
	Index      int        `json:"index"`
	Status     StepStatus `json:"status"`
	Attempts   int        `json:"attempts"`
	Reused     bool       `json:"reused"`
	Output     any        `json:"output"`
	Error      *string    `json:"error"`
	Remedy     *Remedy    `json:"remedy,omitempty"` // as StepResult's
	DurationMS int64      `json:"duration_ms"`
	// Model, Alias and Mock are as StepResult's, for the item's llm call.
	Model   string          `json:"model,omitempty"`
	Alias   string          `json:"alias,omitempty"`
	Mock    bool            `json:"mock,omitempty"`
	Masked  bool            `json:"masked,omitempty"`
	Usage   providers.Usage `json:"usage"`
	CostUSD *float64        `json:"cost_usd"`
	// AttemptsDetail lists each attempt of an item that ran more than once.
	AttemptsDetail []Attempt `json:"attempts_detail,omitempty"`
	Turns          []Turn    `json:"turns,omitempty"` // as StepResult's
	// Key identifies the item's work: its value and what else it read. A
	// replay reuses a finished item of its source with the same key;
	// records written before keys have none.
	Key string `json:"key,omitempty"`
	// ReusedFrom is the run whose record of the item a replay took,
	// ReusedIndex its position there when it was elsewhere in the list
	// (its artifacts are named after it); Why says why it ran or was
	// reused, in a replay (Reason: an older kitaru's sentence instead).
	ReusedFrom  string  `json:"reused_from,omitempty"`
	ReusedIndex *int    `json:"reused_index,omitempty"`
	Why         *Reason `json:"why,omitempty"`
	Reason      string  `json:"reason,omitempty"`
	ChildRun    string  `json:"child_run,omitempty"` // as StepResult's
	// Wait: the item's loop put questions to a person (Status waiting);
	// its step's Wait lists them with the others'.
	Wait *WaitInfo `json:"wait,omitempty"`
}

// Attempt is one try of a step or item: how it ended and what it spent.
type Attempt struct {
	Attempt    int             `json:"attempt"`
	Error      *string         `json:"error"` // null for the attempt that succeeded
	DurationMS int64           `json:"duration_ms"`
	Usage      providers.Usage `json:"usage"`
	CostUSD    *float64        `json:"cost_usd"`
	Turns      []Turn          `json:"turns,omitempty"` // its conversation, as StepResult's
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
	// Calls are, for an llm step, the questions its model put through
	// wait tools that are still to be answered, in the order they are
	// answered; the fields above are those of the first.
	Calls []ToolQuestion `json:"calls,omitempty"`
}

// ToolQuestion is one question an llm step's model put through a wait
// tool: call Call of turn Turn (its ID as the model named it).
type ToolQuestion struct {
	Turn     int            `json:"turn"`
	Call     int            `json:"call"`
	ID       string         `json:"id"`
	Tool     string         `json:"tool"`
	Question string         `json:"question"`
	Schema   map[string]any `json:"schema,omitempty"`
	Deadline *time.Time     `json:"deadline,omitempty"`
	// ChildRun: the question is that of the child run a flow: tool's call
	// started, which the answer goes to.
	ChildRun string `json:"child_run,omitempty"`
	// Item is the foreach item whose loop asked; nil for the step's own.
	Item *int `json:"item,omitempty"`
}

// EventType names what happened.
type EventType string

// The events a run emits, in order of a run's life.
const (
	EventRunStarted   EventType = "run_started"   // Run is set (steps pending or reused)
	EventStepStarted  EventType = "step_started"  // Step, Attempt
	EventStepRetrying EventType = "step_retrying" // Step, Attempt, Error, Delay
	EventItemFinished EventType = "item_finished" // Step, Item, Done/Total; Error when the item failed
	EventStepFinished EventType = "step_finished" // Step, Result (completed, failed, skipped, waiting, reused)
	// EventLeftoverStopped: before a step (Step, Item) runs again, what
	// was left running of its previous attempt, process group PGID, was
	// stopped (the kitaru running it had died without stopping it).
	EventLeftoverStopped EventType = "leftover_stopped"
	EventRunFinished     EventType = "run_finished" // Run is the final record
	// EventFlowChanged: `kitaru retry --flow` replaced the run's flow
	// snapshot with an edited flow; Flow says with which, and what changed.
	EventFlowChanged EventType = "flow_changed"
)

// FlowChange is how an edited flow replaced a run's flow snapshot: the
// new snapshot's hash (sha256, hex) and the file it was read from, and the
// steps it edited (their definition changed), added and removed.
type FlowChange struct {
	Hash    string   `json:"hash"`
	File    string   `json:"file,omitempty"`
	Edited  []string `json:"edited,omitempty"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Event is one thing that happened in a run. Events are also the lines of
// the run's journal.
type Event struct {
	// Seq is the event's place in its run's journal, from 1, set by the
	// store when the event is appended.
	Seq     int64         `json:"seq,omitempty"`
	Time    time.Time     `json:"time"`
	Type    EventType     `json:"type"`
	RunID   string        `json:"run"`
	Step    string        `json:"step,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
	Item    *int          `json:"item,omitempty"`
	Done    int           `json:"done,omitempty"` // foreach: items finished, failed ones too
	Total   int           `json:"total,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"`
	Error   string        `json:"error,omitempty"`
	PGID    int           `json:"pgid,omitempty"`   // leftover_stopped: the process group
	Status  int           `json:"status,omitempty"` // a retried model call's last HTTP status (ephemeral)
	Result  *StepResult   `json:"result,omitempty"`
	// Lines are the log lines of an ephemeral log event (never journaled).
	Lines []LogLine   `json:"lines,omitempty"`
	Run   *Run        `json:"run_record,omitempty"`
	Flow  *FlowChange `json:"flow,omitempty"` // EventFlowChanged
}

// LogLine is one recorded log line of a run.
type LogLine struct {
	// Seq is the line's place in its run's log, from 1, set by the store.
	Seq  int64     `json:"-"`
	Time time.Time `json:"time"`
	Step string    `json:"step,omitempty"`
	Item *int      `json:"item,omitempty"`
	Text string    `json:"text"`
}

// RunMeta is what run.json holds: the run record without its steps, plus
// what the engine needs to continue the run.
type RunMeta struct {
	Run
	Parallel int `json:"parallel,omitempty"`
	// DefaultModel is KITARU_DEFAULT_MODEL as the run found it ("" unset),
	// kept beside Registry: llm steps naming no model resolve with it
	// before the registry's default, and a replay compares it. nil in runs
	// recorded before it was kept.
	DefaultModel *string `json:"default_model_env,omitempty"`
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
	Index Index `json:"index,omitempty"`
	// Earlier is what earlier goes at steps and items tried and paid for
	// that no record of theirs holds (see Spend): the failed records of
	// steps `kitaru retry` runs again, and the attempts of steps ("ID") and
	// foreach items ("ID#N") that a stop or an unwritable record left
	// without a record. Their next record folds it in.
	Earlier map[string]Spend `json:"earlier,omitempty"`
	// ReuseNotes are, for steps a replay with --from reused although they
	// no longer match the flow replayed, what changed (a reason such as
	// definition_changed; an older kitaru wrote a sentence): their reason
	// says it.
	ReuseNotes map[string]Reason `json:"reuse_notes,omitempty"`
	// NoCache: its llm steps take no answer from the cache of answers
	// (--no-cache), in every go at the run.
	NoCache bool `json:"no_cache,omitempty"`
	// FlowRev counts the times `kitaru retry --flow` replaced the run's
	// flow snapshot (0: it runs the flow it started with). ReplaceFlow
	// sets it; a backend may name its snapshots by it.
	FlowRev int `json:"flow_rev,omitempty"`
	// Redo are the steps whose records an edited flow made stale, and why
	// each runs again (a zero Reason: it failed). They are recorded with
	// the edited flow, in the same write, and forgotten before the run
	// continues: a crash between the two still redoes them on resume.
	Redo map[string]Reason `json:"redo,omitempty"`
	// SubFlows are the sources of the flow's sub-flows by path (see
	// flowspec.Flow.SubFlows): the snapshot's, beside flow.yaml.
	SubFlows map[string]string `json:"sub_flows,omitempty"`
	// Temporal names the workflow that drives the run when it runs on
	// Temporal: no process holds its lease, so its status is what the
	// meta says, and cancel and answers go to the workflow.
	Temporal *TemporalRef `json:"temporal,omitempty"`
	// Why are, for a replay a Temporal workflow drives, why each step
	// that runs again does: its activities, in any process, record it.
	Why map[string]Reason `json:"why,omitempty"`
	// ItemsFrom are, for such a replay, where each foreach step that runs
	// again may take finished items from: its activities reuse them as a
	// local replay does.
	ItemsFrom map[string]ItemsSource `json:"items_from,omitempty"`
}

// ItemsSource is where a replay's foreach step takes finished items from
// (see RunMeta.ItemsFrom): the run Run's records, matched by key, or by
// position too when ByIndex; Redo is the item --from STEP[N] names (-1:
// none), From that selector; Whole: the source recorded the whole step.
type ItemsSource struct {
	Run     string `json:"run"`
	ByIndex bool   `json:"by_index,omitempty"`
	Redo    int    `json:"redo"`
	From    string `json:"from,omitempty"`
	Whole   bool   `json:"whole,omitempty"`
}

// TemporalRef is the Temporal workflow a run is executed by.
type TemporalRef struct {
	Namespace  string `json:"namespace"`
	TaskQueue  string `json:"task_queue"`
	WorkflowID string `json:"workflow_id"`
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

// Index is a run's index by step id. It is read and written as one JSON
// object of "<status> <fingerprint>" strings: an entry of its own
// (IndexEntry's methods) costs encoding/json a second pass over every
// value, and the index of a big run is read by every replay of it.
type Index map[string]IndexEntry

// MarshalJSON writes {"<step>": "<status> <fingerprint>", ...}, keys sorted.
func (x Index) MarshalJSON() ([]byte, error) {
	if x == nil {
		return []byte("null"), nil
	}
	flat := make(map[string]string, len(x))
	for id, ie := range x {
		flat[id] = string(ie.Status) + " " + ie.Fingerprint
	}
	return json.Marshal(flat)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (x *Index) UnmarshalJSON(b []byte) error {
	if idx, ok := readPlainIndex(b); ok {
		*x = idx
		return nil
	}
	var flat map[string]string
	if err := json.Unmarshal(b, &flat); err != nil {
		return err
	}
	if flat == nil {
		*x = nil
		return nil
	}
	out := make(Index, len(flat))
	for id, s := range flat {
		out[id] = indexEntry(s)
	}
	*x = out
	return nil
}

func indexEntry(s string) IndexEntry {
	st, fp, _ := strings.Cut(s, " ")
	return IndexEntry{Status: StepStatus(st), Fingerprint: fp}
}

// readPlainIndex reads an index whose keys and values are plain ASCII
// strings without escapes, as kitaru writes them, without encoding/json's
// reflection (a replay of a big run reads its source's index first
// thing). Anything else (escapes, other text, a malformed object) is
// left to encoding/json: ok is false.
func readPlainIndex(raw []byte) (_ Index, ok bool) {
	// One copy of the whole object, which the ids and entries are parts of:
	// not two small strings per step.
	b := string(raw)
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		if i >= len(b) || b[i] != '"' {
			return "", false
		}
		start := i + 1
		for j := start; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				i = j + 1
				return b[start:j], true
			case c == '\\' || c < 0x20 || c >= 0x80:
				return "", false
			}
		}
		return "", false
	}
	ws()
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i++
	// A first guess at the size: entries are about 80 bytes.
	out := make(Index, len(b)/80+1)
	ws()
	if i < len(b) && b[i] == '}' {
		i++
		ws()
		return out, i == len(b)
	}
	for {
		ws()
		k, ok := str()
		if !ok {
			return nil, false
		}
		ws()
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i++
		ws()
		v, ok := str()
		if !ok {
			return nil, false
		}
		if _, dup := out[k]; dup {
			return nil, false // encoding/json keeps the last: let it
		}
		out[k] = indexEntry(v)
		ws()
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i++
			continue
		case '}':
			i++
			ws()
			return out, i == len(b)
		}
		return nil, false
	}
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

// String is a plan step as it is stored: "<id> <kind>[ foreach]".
func (p PlanStep) String() string {
	s := p.ID + " " + string(p.Kind)
	if p.Foreach {
		s += " foreach"
	}
	return s
}

// ParsePlanStep reads what String writes.
func ParsePlanStep(s string) (PlanStep, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return PlanStep{}, fmt.Errorf("plan step %q is not \"<id> <kind>\"", s)
	}
	return PlanStep{ID: f[0], Kind: flowspec.Kind(f[1]), Foreach: len(f) > 2 && f[2] == "foreach"}, nil
}

// MarshalJSON writes a plan step as "<id> <kind>[ foreach]".
func (p PlanStep) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.String())
}

// UnmarshalJSON reads "<id> <kind>[ foreach]".
func (p *PlanStep) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	ps, err := ParsePlanStep(s)
	if err != nil {
		return err
	}
	*p = ps
	return nil
}

// ReusedGroup is a set of steps reused from one run, all with one status.
type ReusedGroup struct {
	Run    string     `json:"run"`
	Status StepStatus `json:"status"`
	Steps  []string   `json:"steps"`
}

// Spend is what the earlier goes at a step (or item) tried and paid for.
// `kitaru retry` forgets a failed step's record so that the step runs
// again; its spend is kept in the run's meta first (RunMeta.Earlier) and
// folded into the step's next record, so that every request that reached a
// provider stays counted in the step and in the run's totals. A failed
// item's record stays until its next attempt replaces it, so an item folds
// its own earlier record directly. A step or item the run stopped (Ctrl-C,
// SIGTERM, cancel, a record that could not be written) has no record: what
// its finished attempts spent is kept in the meta too, saved with the
// run's end, and replaces an item's earlier record when it is folded.
type Spend struct {
	Attempts int             `json:"attempts"`
	Usage    providers.Usage `json:"usage"`
	CostUSD  *float64        `json:"cost_usd"`
	Tries    []Attempt       `json:"tries,omitempty"`
}
