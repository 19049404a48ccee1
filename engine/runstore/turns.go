package runstore

import "github.com/kitaruhq/kitaru/providers"

// Turn is one model call of an llm step's tool loop and the tool calls it
// asked for, as the step's record lists them.
type Turn struct {
	Turn int `json:"turn"` // from 1
	// Text is what the model wrote: the answer of the last turn, or what
	// it said beside its tool calls.
	Text       string          `json:"text,omitempty"`
	ToolCalls  []ToolCall      `json:"tool_calls,omitempty"`
	Model      string          `json:"model,omitempty"`
	Usage      providers.Usage `json:"usage"`
	CostUSD    *float64        `json:"cost_usd"`
	DurationMS int64           `json:"duration_ms"`
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
	// Pending: no result is recorded (the run stopped while it ran).
	Pending bool `json:"pending,omitempty"`
}

// TurnRecord is one durable piece of a tool loop, saved the moment it
// ends: a model's turn (Call 0, Model set) or the result of its Call-th
// tool call (Tool set). Key names the conversation it belongs to: a loop
// whose first request differs (an edited flow, other inputs) starts anew
// rather than continuing records of another.
type TurnRecord struct {
	Item  *int      `json:"item,omitempty"` // the foreach item, nil for the step
	Key   string    `json:"key"`
	Turn  int       `json:"turn"`
	Call  int       `json:"call"`
	Model *Turn     `json:"model,omitempty"`
	Tool  *ToolCall `json:"tool,omitempty"`
}
