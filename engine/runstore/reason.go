package runstore

import (
	"encoding/json"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// ReasonCode names why a step or an item of a run ran, was reused or was
// skipped. Records keep the code and the few facts it needs, never a
// sentence: the command line (or a web page) words it.
type ReasonCode string

// Why a step of a replay runs again.
const (
	ReasonFrom               ReasonCode = "from"                   // --from names it; From: the selector ("draft", "each[2]")
	ReasonDownstreamOfFrom   ReasonCode = "downstream_of_from"     // From
	ReasonDownstreamOverride ReasonCode = "downstream_of_override" // Step: the overridden step upstream
	ReasonDownstream         ReasonCode = "downstream"             // Step: the step upstream that runs again
	ReasonNewStep            ReasonCode = "new_step"               // the source run's flow had no such step
	ReasonNotRun             ReasonCode = "not_run"                // no record in the source (Run, for an item): it never ran or was stopped
	ReasonNoRecord           ReasonCode = "no_record"              // no record in the source, which cannot tell whether the step is new
	ReasonUnfinished         ReasonCode = "unfinished"             // it did not complete in the source: Status (a step), Run (an item)
	ReasonFingerprintChanged ReasonCode = "fingerprint_changed"    // its definition or the inputs it reads differ
	ReasonModelChanged       ReasonCode = "model_changed"          // Model: its model resolves to another one now
	ReasonOverridden         ReasonCode = "overridden"             // --override gave its output
	ReasonRecordMissing      ReasonCode = "record_missing"         // Run: the run whose record of it is gone (removed by hand)
	ReasonHomeGone           ReasonCode = "home_gone"              // Run: the run that held its record, which is gone
)

// Why a step of a run continued against an edited flow (kitaru retry
// --flow) runs again, besides ReasonDefinitionChanged (its definition
// differs in the edited flow) and ReasonDownstream.
const ReasonAddedStep ReasonCode = "added_step" // the edited flow added it

// Why a step or an item was reused instead of running.
const (
	ReasonUnchanged     ReasonCode = "unchanged"      // Run: its fingerprint is unchanged
	ReasonNotDownstream ReasonCode = "not_downstream" // Run, From; Though: what changed all the same
	ReasonMatched       ReasonCode = "matched"        // an item: Run had one with its key (at Item, when elsewhere)
)

// ReasonCached: an llm step's (or item's) answer came from the cache of
// answers, no call made; Run, Step and Item made the call. In a replay,
// Though is why it ran rather than being reused.
const ReasonCached ReasonCode = "cached"

// Why an item of a replay runs (besides ReasonFrom, ReasonUnfinished and
// ReasonNotRun).
const (
	ReasonNoMatch    ReasonCode = "no_match"   // no finished item of Run has its value and inputs
	ReasonUnreadable ReasonCode = "unreadable" // its record in Run cannot be read
)

// What changed in a step --from reused (Reason.Though), besides
// ReasonModelChanged and ReasonFingerprintChanged.
const (
	ReasonDependencyChanged ReasonCode = "dependency_changed" // Step: the dependency that changed, when one is known
	ReasonInputChanged      ReasonCode = "input_changed"      // an input it reads
	ReasonDefinitionChanged ReasonCode = "definition_changed" // its definition, in the edited flow
)

// Why a step was skipped.
const (
	ReasonDependencySkipped ReasonCode = "dependency_skipped" // Step: the dependency it needs
	// ReasonDependencyFailed: Step, a dependency, failed (without
	// continue_on_error) and the step's if calls neither failure() nor
	// always(), so success() was implied.
	ReasonDependencyFailed ReasonCode = "dependency_failed"
	ReasonIfFalse          ReasonCode = "if_false"
	// ReasonRunCancelled: the run was cancelled (or aborted at a wait)
	// before the step finished; a cancelled run is not continued.
	ReasonRunCancelled ReasonCode = "run_cancelled"
	// ReasonHeldByBudget: a pending step of a run its budget stopped; it
	// runs when the run is resumed with a larger budget.
	ReasonHeldByBudget ReasonCode = "held_by_budget"
)

// Reason is why a step or an item ran, was reused or was skipped. Only the
// fields its code needs are set.
type Reason struct {
	Code   ReasonCode   `json:"code"`
	Step   string       `json:"step,omitempty"`
	Run    string       `json:"run,omitempty"`
	From   string       `json:"from,omitempty"`
	Item   *int         `json:"item,omitempty"`
	Status StepStatus   `json:"status,omitempty"`
	Model  *ModelChange `json:"model,omitempty"`
	Though *Reason      `json:"though,omitempty"`
	// Text is what an older kitaru saved instead of a code (a reuse note
	// was a sentence); it is written back as the same string.
	Text string `json:"-"`
}

// ModelChange is how an llm step's model resolves now against what
// answered its record: the model names, the aliases they came from (""
// for a model named directly), whether the name came from
// KITARU_DEFAULT_MODEL (the step names none), and the servers of aliases
// that name their own ("" for the provider's).
type ModelChange struct {
	Was        string `json:"was"`
	Now        string `json:"now"`
	WasAlias   string `json:"was_alias,omitempty"`
	NowAlias   string `json:"now_alias,omitempty"`
	WasDefault bool   `json:"was_default,omitempty"`
	NowDefault bool   `json:"now_default,omitempty"`
	WasBaseURL string `json:"was_base_url,omitempty"`
	NowBaseURL string `json:"now_base_url,omitempty"`
}

type reasonFields Reason // without the methods below

// MarshalJSON writes a reason as an object, or an older kitaru's text as
// the string it was.
func (r Reason) MarshalJSON() ([]byte, error) {
	if r.Code == "" && r.Text != "" {
		return json.Marshal(r.Text)
	}
	return json.Marshal(reasonFields(r))
}

// UnmarshalJSON reads either form.
func (r *Reason) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = Reason{}
		return json.Unmarshal(b, &r.Text)
	}
	return json.Unmarshal(b, (*reasonFields)(r))
}

// EndCode names how a run's last go ended.
type EndCode string

// The endings of a run.
const (
	EndCompleted    EndCode = "completed"
	EndStepFailed   EndCode = "step_failed"   // Step failed; the run's Error is its error
	EndWaiting      EndCode = "waiting"       // Step (the first in file order) waits for an answer
	EndCancelled    EndCode = "cancelled"     // someone asked the run to stop
	EndInterrupted  EndCode = "interrupted"   // the process running it was stopped (a signal)
	EndStoreFailed  EndCode = "store_failed"  // a record could not be written; Error is the store's error
	EndNeverReady   EndCode = "never_ready"   // Step has no state though nothing failed: a bug
	EndOutputFailed EndCode = "output_failed" // the flow's output could not be made; Error says why
	EndAborted      EndCode = "aborted"       // the wait at Step was aborted
	EndWaitExpired  EndCode = "wait_expired"  // Step's wait ran out of time before its answer; Error says when
	// EndWorkflowFailed: the Temporal workflow driving the run failed
	// (its code panicked, say); Error is its failure. The run is failed.
	EndWorkflowFailed EndCode = "workflow_failed"
	// EndWorkflowLost: that workflow stopped without ending the run
	// (terminated, or gone from Temporal); Error says how. The run is
	// interrupted.
	EndWorkflowLost EndCode = "workflow_lost"
	// EndBudgetExceeded: the run spent its budget and held back model calls
	// (steps not started, calls refused); Budget has the figures.
	EndBudgetExceeded EndCode = "budget_exceeded"
)

// Ending is how a run's last go ended, as data.
type Ending struct {
	Code   EndCode      `json:"code"`
	Step   string       `json:"step,omitempty"`
	Budget *BudgetSpent `json:"budget,omitempty"` // EndBudgetExceeded
	// Continued are the steps, in file order, that failed with
	// continue_on_error: their failures did not fail the run.
	Continued []string `json:"continued,omitempty"`
}

// BudgetSpent is what a run stopped by its budget had spent of it: its
// limits, its totals, and the limit it reached ("max_cost_usd" or
// "max_tokens", as the flow writes them).
type BudgetSpent struct {
	Limit   flowspec.Budget `json:"limit"`
	Usage   providers.Usage `json:"usage"`
	CostUSD float64         `json:"cost_usd"`
	Reached string          `json:"reached"`
}
