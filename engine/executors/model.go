package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/providers"
)

// Model makes one model call.
type Model struct{}

// Execute sends the step's messages and returns the answer.
func (Model) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	l := u.Step.LLM
	msgs, err := stepMessages(u)
	if err != nil {
		return nil, err
	}
	req := providers.Request{Model: l.Model, Messages: msgs, Temperature: l.Temperature, MaxTokens: l.MaxTokens}
	if data, err := json.MarshalIndent(req, "", "  "); err == nil {
		sink.Artifact("prompt", ".json", append(data, '\n'))
	}
	caller, err := callerOf(u)
	if err != nil {
		return nil, err
	}
	resp, err := caller.Call(ctx, req)
	// A server may echo the key it was sent (in its answer or an error):
	// the key is masked in all the step records, as a secret is.
	creds := providers.CredentialsOf(err)
	if resp != nil {
		creds = resp.Credentials
	}
	sink.AddSecrets(creds)
	if err != nil {
		return nil, err
	}
	text := sink.Mask(resp.Text)
	sink.Artifact("response", ".txt", []byte(text))
	sink.Log(fmt.Sprintf("model %s answered in %s (%d tokens in, %d out)", resp.Model, humantime.Duration(resp.Latency), resp.Usage.InputTokens, resp.Usage.OutputTokens))
	res := &work.Result{Model: resp.Model, Alias: resp.Alias, Credential: resp.CredentialSource, Mock: resp.Mock, Usage: resp.Usage, Cost: resp.CostUSD}
	out, err := sink.Output(text)
	if err != nil {
		return res, err // the call was made and paid for
	}
	res.Output = out
	return res, nil
}

// stepMessages renders an llm step's system, prompt and messages.
func stepMessages(u *work.Unit) ([]providers.Message, error) {
	l := u.Step.LLM
	var msgs []providers.Message
	if l.System != nil {
		s, err := l.System.Render(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("system: %w", err)
		}
		msgs = append(msgs, providers.Message{Role: "system", Content: s})
	}
	if l.Prompt != nil {
		p, err := l.Prompt.Render(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		msgs = append(msgs, providers.Message{Role: "user", Content: p})
	}
	for i, m := range l.Messages {
		c, err := m.Content.Render(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		msgs = append(msgs, providers.Message{Role: m.Role, Content: c})
	}
	return msgs, nil
}

// callerOf is the unit's model caller: the engine's, else the mock when
// KITARU_LLM_MOCK_RESPONSE is set.
func callerOf(u *work.Unit) (providers.Caller, error) {
	if u.Model != nil {
		return u.Model, nil
	}
	if mock := os.Getenv(providers.EnvMockResponse); mock != "" {
		return providers.Mock{Text: mock}, nil
	}
	return nil, runstore.Advise(errors.New("no provider configured"), runstore.Remedy{Do: runstore.RemedyRegisterModel})
}
