package engine

import (
	"regexp"
	"testing"

	"github.com/kitaruhq/kitaru/providers"
)

// An engine given no Models answers llm steps through the one mock caller
// in providers, so its record is the one `kitaru run` writes: the model as
// the step names it, mock, no credential, nothing spent.
func TestMockWithoutModelsRecordsLikeTheCLI(t *testing.T) {
	t.Setenv(providers.EnvMockResponse, "canned")
	te := newEnv(t)
	te.eng = New(Config{Store: te.store})
	run := te.start(te.flow(`
name: m
steps:
  ask: {kind: llm, model: openai/gpt-4o-mini, prompt: hi}
`), nil)
	wantStatus(t, run, RunCompleted)
	got := step(t, run, "ask")
	if got.Model != "openai/gpt-4o-mini" || !got.Mock || got.Credential != providers.CredentialNone {
		t.Errorf("record model %q mock %v credential %q; want openai/gpt-4o-mini, true, none", got.Model, got.Mock, got.Credential)
	}
	if got.CostUSD == nil || *got.CostUSD != 0 || got.Usage != (providers.Usage{}) {
		t.Errorf("record cost %v usage %+v; want $0 and no tokens", got.CostUSD, got.Usage)
	}
	if out, err := OutputValue(got.Output); err != nil || out != "canned" {
		t.Errorf("output %v (%v), want canned", out, err)
	}
	// Its log line writes the duration as the command line shows them
	// (humantime): "answered in 0ms", never Go's "0s".
	lines, err := te.store.Logs(t.Context(), run.ID, 0)
	if err != nil || len(lines) != 1 || !regexp.MustCompile(`^model openai/gpt-4o-mini answered in (\d+ms|\d+\.\ds) \(`).MatchString(lines[0].Text) {
		t.Errorf("log %+v, %v; want one line saying how long the model took as people read it (629ms, 1.2s)", lines, err)
	}
}
