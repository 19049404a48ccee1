package flowspec

import (
	"encoding/json"
	"strings"
	"testing"
)

// An llm step's schema is read and compiled at load; Validate names the
// JSON pointer of the part of an answer that broke it.
func TestAnswerSchemaValidate(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `name: s
steps:
  a:
    kind: llm
    prompt: Who?
    schema:
      type: object
      properties:
        name: {type: string}
        year: {type: integer, minimum: 1800}
        tags: {type: array, items: {type: string}}
        "a/b": {type: boolean}
      required: [name, year]
`)
	sch := f.Step("a").LLM.Schema
	if sch == nil || f.Step("a").LLM.SchemaRetries != DefaultSchemaRetries {
		t.Fatalf("schema %v, retries %d; want a schema and %d", sch, f.Step("a").LLM.SchemaRetries, DefaultSchemaRetries)
	}
	tests := []struct {
		answer  string
		pointer string // "-": valid
		reason  string
	}{
		{`{"name": "Ada", "year": 1843}`, "-", ""},
		{`{"name": "Ada", "year": 1843.0}`, "-", ""},
		{`{"name": "Ada", "year": "1843"}`, "/year", "got string, want integer"},
		{`{"name": "Ada", "year": 1700}`, "/year", "minimum"},
		{`{"name": "Ada"}`, "", "missing property 'year'"},
		{`{"name": "Ada", "year": 1843, "tags": ["x", 2]}`, "/tags/1", "got number, want string"},
		{`{"name": "Ada", "year": 1843, "a/b": 1}`, "/a~1b", "want boolean"},
		{`["Ada"]`, "", "got array, want object"},
	}
	for _, tt := range tests {
		var v any
		if err := json.Unmarshal([]byte(tt.answer), &v); err != nil {
			t.Fatal(err)
		}
		all := sch.Validate(v)
		if tt.pointer == "-" {
			if all != nil {
				t.Errorf("%s: %v, want valid", tt.answer, all)
			}
			continue
		}
		if len(all) != 1 {
			t.Errorf("%s: %v, want one violation at %q", tt.answer, all, tt.pointer)
			continue
		}
		got := all[0]
		if got.Pointer != tt.pointer || !strings.Contains(got.Reason, tt.reason) {
			t.Errorf("%s: at %q: %s; want at %q: …%s…", tt.answer, got.Pointer, got.Reason, tt.pointer, tt.reason)
		}
		if !strings.Contains(got.Error(), tt.reason) || tt.pointer != "" && !strings.Contains(got.Error(), "at "+tt.pointer+":") {
			t.Errorf("%s: message %q does not name %q", tt.answer, got.Error(), tt.pointer)
		}
	}
}

// Every place an answer breaks the schema is found, sorted by pointer.
func TestAnswerSchemaEveryViolation(t *testing.T) {
	t.Parallel()
	f := mustParse(t, "name: s\nsteps:\n  a:\n    kind: llm\n    prompt: Who?\n    schema: {type: object, properties: {name: {type: string}, year: {type: integer}}, required: [name, fields]}\n")
	var v any
	_ = json.Unmarshal([]byte(`{"name": 1, "year": "x"}`), &v)
	var got []string
	for _, bad := range f.Step("a").LLM.Schema.Validate(v) {
		got = append(got, bad.Error())
	}
	want := []string{`at "" (the whole value): missing property 'fields'`, "at /name: got number, want string", "at /year: got string, want integer"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
