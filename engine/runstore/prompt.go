package runstore

import (
	"encoding/json"

	"github.com/kitaruhq/kitaru/providers"
)

// Prompt is an llm step's first request as its prompt artifact keeps it,
// in the run record's names: what was asked, of which model. A prompt an
// older kitaru wrote (Go field names, the alias as Model) reads into it
// too, the names matched without regard to case.
type Prompt struct {
	// Model is the provider/model the call went to; when a mock answered
	// or the model did not resolve, what the step named ("" : the
	// default).
	Model       string              `json:"model"`
	Alias       string              `json:"alias,omitempty"` // the alias that named it
	BaseURL     string              `json:"base_url,omitempty"`
	Messages    []providers.Message `json:"messages"`
	Temperature *float64            `json:"temperature,omitempty"`
	MaxTokens   int                 `json:"max_tokens,omitempty"`
	Schema      json.RawMessage     `json:"schema,omitempty"`
	Tools       []providers.Tool    `json:"tools,omitempty"`
}
