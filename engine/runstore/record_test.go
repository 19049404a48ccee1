package runstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The index is one JSON object of "<status> <fingerprint>" strings, the
// form runs on disk already hold; it reads back whole, and null stays nil.
func TestIndexJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		idx  Index
		json string
	}{
		{"nil", nil, `null`},
		{"empty", Index{}, `{}`},
		{"entries", Index{"b": {Status: StepFailed}, "a": {Status: StepCompleted, Fingerprint: "f1"}}, `{"a":"completed f1","b":"failed "}`},
		{"odd ids", Index{`q"<x>`: {Status: StepSkipped, Fingerprint: "ff"}}, `{"q\"\u003cx\u003e":"skipped ff"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.idx)
			if err != nil || string(b) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back Index
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.idx) {
				t.Fatalf("Unmarshal = %#v, %v; want %#v", back, err, tt.idx)
			}
		})
	}
	// Inside a meta, as run.json holds it, and as an entry alone.
	var m RunMeta
	if err := json.Unmarshal([]byte(`{"id":"kr-x","index":{"a":"completed f1"}}`), &m); err != nil || m.Index["a"] != (IndexEntry{Status: StepCompleted, Fingerprint: "f1"}) {
		t.Fatalf("meta index %#v, %v", m.Index, err)
	}
	var ie IndexEntry
	if err := json.Unmarshal([]byte(`"waiting abc"`), &ie); err != nil || ie != (IndexEntry{Status: StepWaiting, Fingerprint: "abc"}) {
		t.Fatalf("entry %#v, %v", ie, err)
	}
	if err := json.Unmarshal([]byte(`{"a": 1}`), new(Index)); err == nil {
		t.Fatal("an index of numbers read")
	}
}

// A plan step is "<id> <kind>[ foreach]" both as String and as JSON.
func TestPlanStepText(t *testing.T) {
	t.Parallel()
	for _, p := range []PlanStep{{ID: "a", Kind: "llm"}, {ID: "b-2", Kind: "checkpoint", Foreach: true}} {
		back, err := ParsePlanStep(p.String())
		if err != nil || back != p {
			t.Errorf("ParsePlanStep(%q) = %+v, %v", p.String(), back, err)
		}
		b, _ := json.Marshal(p)
		var j PlanStep
		if err := json.Unmarshal(b, &j); err != nil || j != p || string(b) != `"`+p.String()+`"` {
			t.Errorf("JSON %s gave %+v, %v", b, j, err)
		}
	}
	for _, bad := range []string{"", "a", "   "} {
		if _, err := ParsePlanStep(bad); err == nil {
			t.Errorf("ParsePlanStep(%q) read", bad)
		}
	}
}

// The quick reader of plain indexes reads exactly what encoding/json reads,
// and leaves the rest (escapes, other text, duplicates, damage) to it.
func TestIndexQuickReader(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in    string
		quick bool // read without encoding/json
	}{
		{`{}`, true},
		{" {\n  \"a\": \"completed f1\",\n\t\"b-2\" : \"failed \"\r\n} ", true},
		{`{"a":"completed f1","b":"skipped"}`, true},
		{`{"a\u0062":"completed f1"}`, false},
		{`{"é":"completed f1"}`, false},
		{`{"a":"completed f1","a":"failed f2"}`, false},
		{`{"a":"completed f1",}`, false},
		{`{"a" "completed"}`, false},
		{`{"a":1}`, false},
		{`{"a":"x"} x`, false},
		{`["a"]`, false},
		{`{"a":"x"`, false},
	} {
		_, quick := readPlainIndex([]byte(tt.in))
		if quick != tt.quick {
			t.Errorf("%q: read quickly %v, want %v", tt.in, quick, tt.quick)
		}
		var flat map[string]string
		wantErr := json.Unmarshal([]byte(tt.in), &flat)
		var got Index
		err := got.UnmarshalJSON([]byte(tt.in))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, encoding/json's %v", tt.in, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		want := Index{}
		for k, v := range flat {
			want[k] = indexEntry(v)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: read %#v, want %#v", tt.in, got, want)
		}
	}
}
