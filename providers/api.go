// Package providers makes LLM calls through langchaingo: it resolves model
// aliases, finds credentials, retries transient failures, and reports usage
// and cost.
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"
)

// Message is one chat message sent to a model.
type Message struct {
	Role    string `json:"role"` // system | user | assistant | tool
	Content string `json:"content"`
	// ToolCalls are what an assistant message asked for; ToolCallID is the
	// call a tool message answers (see tools.go).
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Request is one model call as an llm step asks for it.
type Request struct {
	// Model is what the flow wrote: an alias, a raw provider/model string, or
	// "" for KITARU_DEFAULT_MODEL and then the default alias.
	Model       string
	Messages    []Message // a system message, when present, comes first
	Temperature *float64  // nil: the provider's default
	MaxTokens   int       // 0: kitaru's default
	// Schema, when set, is the JSON Schema (its JSON text) the answer must
	// follow: the call asks for it in the provider's own structured-output
	// form, and Response.Text is the answer as JSON text. Whether the
	// answer does follow it is for the caller to check.
	Schema json.RawMessage `json:",omitempty"`
	// SchemaName names the schema where a provider wants a name (the
	// step's id); "" is "answer".
	SchemaName string `json:",omitempty"`
	// Tools are what the model may call; with a Schema too, the answer
	// that ends the loop follows it (see structured).
	Tools []Tool `json:",omitempty"`
	// DefaultModel, when set, is what KITARU_DEFAULT_MODEL was for the run
	// making the call (its record keeps it), read in place of the
	// variable now: a resumed run resolves its steps as it started. It is
	// not part of what a request says (nor of any key made of it).
	DefaultModel *string `json:"-"`
}

// env is getenv as req resolves its model with: KITARU_DEFAULT_MODEL is
// the run's, when req carries it.
func (req Request) env(getenv func(string) string) func(string) string {
	if req.DefaultModel == nil {
		return getenv
	}
	def := *req.DefaultModel
	return func(k string) string {
		if k == EnvDefaultModel {
			return def
		}
		if getenv == nil {
			return os.Getenv(k)
		}
		return getenv(k)
	}
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{InputTokens: u.InputTokens + o.InputTokens, OutputTokens: u.OutputTokens + o.OutputTokens}
}

// AddCost sums two costs: unknown (nil) only when both are.
func AddCost(a, b *float64) *float64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	c := *a + *b
	return &c
}

// Total is the tokens used both ways, the one number displays show.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Credential sources recorded with every call.
const (
	CredentialEnvironment = "environment"
	CredentialSecret      = "secret"
	CredentialNone        = "none"
)

// Response is what a call returned and what it cost.
type Response struct {
	Text             string
	ToolCalls        []ToolCall // the calls the model asked for, when it did
	Alias            string     // "" when the step named a raw provider/model
	Model            string     // the provider/model actually called
	Usage            Usage
	CostUSD          *float64 // nil when the model's price is unknown
	CredentialSource string
	Mock             bool // KITARU_LLM_MOCK_RESPONSE answered; nothing was sent
	Latency          time.Duration
	Attempts         int // HTTP attempts, counting retries of transient errors
	// Credentials are the key values the call sent, for the engine to mask
	// in everything it records: a server may echo them. Never serialised.
	Credentials []string `json:"-"`
}

// CredentialsOf returns the key values a failed call had sent (or was
// about to send), for the engine to mask in the error it records.
func CredentialsOf(err error) []string {
	var ce *credentialError
	if errors.As(err, &ce) {
		return ce.values
	}
	return nil
}

// credentialError is an error of a call that had resolved credentials.
type credentialError struct {
	err    error
	values []string
}

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// Caller makes model calls. Implementations are safe for concurrent use.
type Caller interface {
	Call(ctx context.Context, req Request) (*Response, error)
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
	// LongContext, where set, prices a whole call whose prompt is longer
	// than its threshold: some providers bill such calls at higher rates.
	LongContext *LongContextPrice `json:"long_context,omitempty"`
}

// LongContextPrice is the price of a call with more than AboveInputTokens
// input tokens, in US dollars per million tokens.
type LongContextPrice struct {
	AboveInputTokens int     `json:"above_input_tokens"`
	InputPerMTok     float64 `json:"input_per_mtok"`
	OutputPerMTok    float64 `json:"output_per_mtok"`
}

// Alias names a provider/model and, optionally, the secret holding its key
// and its own endpoint.
type Alias struct {
	Model  string `json:"model"`
	Secret string `json:"secret,omitempty"`
	Price  *Price `json:"price,omitempty"` // overrides the built-in price table
	// BaseURL, where set, is the server this alias calls instead of the
	// provider's (any OpenAI-compatible one for openai/…), written as the
	// provider's SDK expects it: http://localhost:8000/v1.
	BaseURL string `json:"base_url,omitempty"`
	// Headers are sent with every request of this alias; a value may name
	// a secret key or a variable instead of holding it (see
	// ParseHeaderValue), and the registry never holds a credential.
	Headers map[string]string `json:"headers,omitempty"`
}

// Registry is a set of aliases and the default one. A run records the
// registry it resolved with (names only, never secret values).
type Registry struct {
	Aliases map[string]Alias `json:"aliases"`
	Default string           `json:"default,omitempty"`
}

// Merge returns primary with every alias of fallback that primary lacks
// added; primary's default wins unless it has none. Neither is modified.
// replay uses it: the current registry first, the source run's snapshot for
// aliases this machine does not have.
func Merge(primary, fallback Registry) Registry {
	out := Registry{Aliases: make(map[string]Alias, len(primary.Aliases)+len(fallback.Aliases)), Default: primary.Default}
	for name, a := range fallback.Aliases {
		out.Aliases[name] = a
	}
	for name, a := range primary.Aliases {
		out.Aliases[name] = a
	}
	if out.Default == "" {
		out.Default = fallback.Default
	}
	return out
}

// ErrPermanent marks call errors that running the step again cannot fix: a
// model that does not resolve, missing credentials, a request the provider
// refused (4xx other than 408 and 429). Test with errors.Is; the message is
// unchanged. Transient failures were already retried inside Call.
var ErrPermanent = errors.New("permanent model call error")
