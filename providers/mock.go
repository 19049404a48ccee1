package providers

import (
	"context"
	"time"
)

// Mock is the offline model caller behind KITARU_LLM_MOCK_RESPONSE: it
// answers every call with Text, sends nothing and needs no credentials.
// Offered tools, it first calls each of them once (see mockToolCalls) and
// answers Text once they have answered, so a tool loop runs offline.
// Every mocked call records the same way, whoever made the caller.
type Mock struct {
	Text     string
	Registry Registry            // to record the model an alias resolves to
	Getenv   func(string) string // nil: os.Getenv
}

// Call records the resolved model when the name resolves, else the name as
// written: the offline path must work on a machine where no alias is
// registered yet. It costs nothing and uses no tokens; a streamed call
// gets its text in one piece.
func (m Mock) Call(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	zero := 0.0
	resp := &Response{Text: m.Text, Model: req.Model, CostUSD: &zero, CredentialSource: CredentialNone, Mock: true}
	if resp.ToolCalls = mockToolCalls(req); resp.ToolCalls != nil {
		resp.Text = ""
	}
	if res, err := m.Registry.Resolve(req.Model, req.env(m.Getenv)); err == nil {
		resp.Alias, resp.Model = res.Alias, res.Model
	}
	if text := StreamOf(ctx).Text; text != nil && resp.Text != "" {
		text(resp.Text) // none for a turn that calls tools
	}
	resp.Latency = time.Since(start)
	return resp, nil
}
