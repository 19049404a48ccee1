package runstore

import (
	"cmp"

	"github.com/kitaruhq/kitaru/providers"
)

// Turn is one model call of an llm step's conversation: the first call,
// each call of its tool loop, each call asking again for an answer that
// follows its schema. A step's retry starts a new conversation; a resume
// continues the one a stop broke off.
type Turn struct {
	Turn int `json:"turn"` // from 1
	// Model and Alias are the model that answered (of a step's list, the
	// one that did; FailedModels are those before it that gave none).
	Model string `json:"model,omitempty"`
	Alias string `json:"alias,omitempty"`
	// Text is what the model wrote: its answer, or what it said beside
	// its tool calls.
	Text      string     `json:"text,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// Error says why the turn's answer was not taken: it broke the step's
	// schema (Pointer is the JSON pointer of the part that broke it, ""
	// the whole answer), or no model of the list answered. Null for an
	// answer taken and for a turn that asked for tools.
	Error        *string         `json:"error"`
	Pointer      *string         `json:"pointer,omitempty"`
	DurationMS   int64           `json:"duration_ms"`
	Usage        providers.Usage `json:"usage"`
	CostUSD      *float64        `json:"cost_usd"`
	FailedModels []ModelTry      `json:"failed_models,omitempty"`
}

// ModelTry is one model of a step's model list that gave no answer to a
// call (after its own HTTP retries), so the next one was tried.
type ModelTry struct {
	Model      string          `json:"model"` // as the step names it
	Error      string          `json:"error"`
	DurationMS int64           `json:"duration_ms"`
	Usage      providers.Usage `json:"usage"`
	CostUSD    *float64        `json:"cost_usd"`
}

// ToolCall is one tool call of a turn: what the model asked for and what
// the tool gave, its output or its error (which went back to the model as
// the result).
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments any    `json:"arguments"` // the decoded JSON; the text as written when it is not JSON
	// ArgumentsText is the model's text of the arguments, sent back to it
	// unchanged with the turn.
	ArgumentsText string  `json:"arguments_text,omitempty"`
	Output        any     `json:"output,omitempty"`
	Error         *string `json:"error,omitempty"`
	DurationMS    int64   `json:"duration_ms"`
	// Pending: no result is recorded (the run stopped while it ran, or
	// a person is still to answer it).
	Pending bool `json:"pending,omitempty"`
	// Wait is the question of a call of a kind: wait tool and, once a
	// person gave it, the answer (which is then the Output too).
	Wait *WaitInfo `json:"wait,omitempty"`
	// NotRun: it was asked for on the last turn max_turns allows, and not
	// run, as no turn was left to take its result.
	NotRun bool `json:"not_run,omitempty"`
	// ChildRun is the run a call of a flow: tool started; Usage and
	// CostUSD what that run spent (its totals), which its step's count.
	ChildRun string           `json:"child_run,omitempty"`
	Usage    *providers.Usage `json:"usage,omitempty"`
	CostUSD  *float64         `json:"cost_usd,omitempty"`
}

// Waiting says whether the call is a question no one answered yet.
func (tc *ToolCall) Waiting() bool { return tc.Pending && tc.Wait != nil && !tc.Wait.Answered }

// TurnRecord is one durable piece of an llm step's conversation (of a
// step with tools or a schema), saved the moment it ends: a model's turn
// (Call 0, Model set), the result of its Call-th tool call (Tool set), or,
// on turn 0, Ended: why the attempt that held the conversation failed, so
// that its retry starts the next conversation instead of continuing it.
// Conversation numbers a step's (or item's) conversations from 1. Key
// names what the conversation was asked: one whose first request differs
// (other inputs, an upstream step's new output) is not continued.
type TurnRecord struct {
	Item         *int      `json:"item,omitempty"` // the foreach item, nil for the step
	Conversation int       `json:"conversation"`
	Key          string    `json:"key"`
	Turn         int       `json:"turn"`
	Call         int       `json:"call"`
	Model        *Turn     `json:"model,omitempty"`
	Tool         *ToolCall `json:"tool,omitempty"`
	Ended        *string   `json:"ended,omitempty"`
}

// CompareTurnRecords orders records by conversation, turn, then call.
func CompareTurnRecords(a, b *TurnRecord) int {
	return cmp.Or(cmp.Compare(a.Conversation, b.Conversation), cmp.Compare(a.Turn, b.Turn), cmp.Compare(a.Call, b.Call))
}
