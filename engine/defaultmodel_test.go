package engine

import (
	"encoding/json"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/providers"
)

// mockModels answer through providers' own mock, which resolves each
// call's model as a real call does.
type mockModels struct{}

func (mockModels) Current() (providers.Registry, error) { return providers.Registry{}, nil }
func (mockModels) Caller(reg providers.Registry) providers.Caller {
	return providers.Mock{Text: "ok", Registry: reg}
}

// A run resumed after KITARU_DEFAULT_MODEL changed resolves its steps
// that name no model as it started: with the value it recorded.
func TestResumeKeepsTheRecordedDefaultModel(t *testing.T) {
	t.Setenv(providers.EnvDefaultModel, "openai/gpt-4o-mini")
	eng := New(Config{Store: memstore.New(), Models: mockModels{}})
	te := &testEnv{t: t}
	f := te.flow(`
name: d
steps:
  ok: {kind: wait, question: "go?"}
  ask: {kind: llm, needs: [ok], prompt: hi}
`)
	run, err := eng.Start(t.Context(), StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunWaiting)
	if _, err := eng.Answer(t.Context(), run.ID, "ok", json.RawMessage("true")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(providers.EnvDefaultModel, "anthropic/claude-haiku-4-5")
	run, err = eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if got := step(t, run, "ask").Model; got != "openai/gpt-4o-mini" {
		t.Errorf("the resumed step went to %q, want the model the run started with", got)
	}
}
