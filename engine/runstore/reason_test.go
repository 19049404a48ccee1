package runstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Reasons are written as objects with only the fields their code needs;
// a reuse note an older kitaru wrote as a sentence reads, and is written
// back, as that sentence.
func TestReasonJSON(t *testing.T) {
	t.Parallel()
	two := 2
	tests := []struct {
		name string
		r    Reason
		json string
	}{
		{"a code alone", Reason{Code: ReasonIfFalse}, `{"code":"if_false"}`},
		{"an item found elsewhere", Reason{Code: ReasonMatched, Run: "kr-a", Item: &two}, `{"code":"matched","run":"kr-a","item":2}`},
		{"what changed all the same", Reason{Code: ReasonNotDownstream, Run: "kr-a", From: "d",
			Though: &Reason{Code: ReasonModelChanged, Model: &ModelChange{Was: "m/a", Now: "m/b", NowAlias: "fast"}}},
			`{"code":"not_downstream","run":"kr-a","from":"d","though":{"code":"model_changed","model":{"was":"m/a","now":"m/b","now_alias":"fast"}}}`},
		{"an older kitaru's sentence", Reason{Text: "its definition changed in the edited flow"}, `"its definition changed in the edited flow"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.r)
			if err != nil || string(b) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back Reason
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.r) {
				t.Fatalf("Unmarshal = %+v, %v; want %+v", back, err, tt.r)
			}
		})
	}
}

// A run.json an older kitaru wrote keeps reading: its reuse notes were
// sentences, its steps' reasons too.
func TestOlderReasonsRead(t *testing.T) {
	t.Parallel()
	var m RunMeta
	if err := json.Unmarshal([]byte(`{"id":"kr-a","reuse_notes":{"a":"an input it reads changed"}}`), &m); err != nil {
		t.Fatal(err)
	}
	if got := m.ReuseNotes["a"]; got != (Reason{Text: "an input it reads changed"}) {
		t.Errorf("note %+v", got)
	}
	var s StepResult
	if err := json.Unmarshal([]byte(`{"id":"b","reason":"downstream of a"}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Reason != "downstream of a" || s.Why != nil {
		t.Errorf("reason %q, why %+v", s.Reason, s.Why)
	}
}
