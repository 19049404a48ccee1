package engine

import (
	"regexp"
	"strings"
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
}

// The engine's log lines write durations as the command line shows them
// (humantime), not in Go's form: "answered in 0ms", never "0s".
func TestLogLinesWriteHumanDurations(t *testing.T) {
	t.Setenv(providers.EnvMockResponse, "canned")
	te := newEnv(t)
	te.eng = New(Config{Store: te.store})
	run := te.start(te.flow(`
name: m
steps:
  ask: {kind: llm, model: openai/gpt-4o-mini, prompt: hi}
`), nil)
	wantStatus(t, run, RunCompleted)
	lines, err := te.store.Logs(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	human := regexp.MustCompile(`answered in (\d+ms|\d+\.\ds) \(`)
	for _, l := range lines {
		if strings.Contains(l.Text, "answered in") {
			if !human.MatchString(l.Text) {
				t.Errorf("log line %q; want the duration as people read it (629ms, 1.2s)", l.Text)
			}
			return
		}
	}
	t.Fatalf("no answered line in %+v", lines)
}
