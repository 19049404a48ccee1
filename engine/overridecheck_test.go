package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const schemaWaitFlow = `name: approve
steps:
  approval:
    kind: wait
    question: Ship it?
    schema: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
  after:
    kind: checkpoint
    value: ${{ steps.approval.output.ok }}
`

// An override of a wait step is checked against its schema as an answer
// would be, before the replay makes a run: a value that breaks it is a
// usage error naming the step, and no run is made.
func TestReplayOverrideOfWaitFitsItsSchema(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(schemaWaitFlow), nil)
	wantStatus(t, run, RunWaiting)
	if _, err := te.eng.Answer(t.Context(), run.ID, "approval", json.RawMessage(`{"ok": true}`)); err != nil {
		t.Fatal(err)
	}
	src, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, src, RunCompleted)
	tests := []struct {
		value   any
		wantErr string // "": the replay runs
	}{
		{map[string]any{"ok": false}, ""},
		{"yes", "the override of step approval does not fit its schema"},
		{map[string]any{"ok": "yes"}, "does not fit its schema"},
		{map[string]any{}, "does not fit its schema"},
	}
	for _, tt := range tests {
		runs := len(mustList(t, te))
		got, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Overrides: map[string]any{"wait.approval": tt.value}})
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("override %v: %v", tt.value, err)
			} else {
				wantStatus(t, got, RunCompleted)
			}
			continue
		}
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("override %v: err = %v, want a usage error with %q", tt.value, err, tt.wantErr)
		}
		if n := len(mustList(t, te)); n != runs {
			t.Errorf("override %v made a run", tt.value)
		}
	}
}
