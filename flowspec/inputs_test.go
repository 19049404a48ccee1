package flowspec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const typedInputs = `name: typed
inputs:
  topic: {type: string}
  words: {type: integer, default: 120}
  ratio: {type: number, default: 0.5}
  loud: {type: boolean, default: false}
  tags: {type: list, default: [a, b]}
  meta: {type: object, default: {k: v}}
steps:
  a: {kind: checkpoint, value: "${{ inputs }}"}
`

func TestBindInputs(t *testing.T) {
	f := mustParse(t, typedInputs)
	defaults := map[string]any{"words": 120, "ratio": 0.5, "loud": false, "tags": []any{"a", "b"}, "meta": map[string]any{"k": "v"}}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range defaults {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		given   map[string]any
		want    map[string]any
		wantErr []string
	}{
		{name: "defaults fill the rest", given: map[string]any{"topic": "go"}, want: with("topic", "go")},
		{name: "strings coerce", given: map[string]any{"topic": "42", "words": "7", "ratio": "1.25", "loud": "true", "tags": `["x", 1]`, "meta": "{a: 1}"},
			want: map[string]any{"topic": "42", "words": 7, "ratio": 1.25, "loud": true, "tags": []any{"x", 1}, "meta": map[string]any{"a": 1}}},
		{name: "yaml list without quotes", given: map[string]any{"topic": "t", "tags": "[x, y]"}, want: with("topic", "t", "tags", []any{"x", "y"})},
		{name: "json numbers", given: map[string]any{"topic": "t", "words": 9.0, "ratio": 3.0}, want: with("topic", "t", "words", 9, "ratio", 3.0)},
		{name: "integer from 1e3", given: map[string]any{"topic": "t", "words": "1e3"}, want: with("topic", "t", "words", 1000)},
		{name: "empty string is a string", given: map[string]any{"topic": ""}, want: with("topic", "")},
		{name: "missing required", given: map[string]any{}, wantErr: []string{`input "topic" (string) is required; pass --input topic=...`}},
		{name: "bad integer", given: map[string]any{"topic": "t", "words": "many"}, wantErr: []string{`input "words" must be an integer, not "many"`}},
		{name: "fractional integer", given: map[string]any{"topic": "t", "words": 1.5}, wantErr: []string{`input "words" must be an integer, not the number 1.5`}},
		{name: "bad boolean", given: map[string]any{"topic": "t", "loud": "maybe"}, wantErr: []string{`input "loud" must be a boolean (true or false), not "maybe"`}},
		{name: "typed string for number", given: map[string]any{"topic": 5}, wantErr: []string{`input "topic" must be a string, not the number 5`}},
		{name: "list not given a list", given: map[string]any{"topic": "t", "tags": "{a: 1}"}, wantErr: []string{`input "tags" must be a list, not "{a: 1}"`}},
		{name: "unknown with suggestion", given: map[string]any{"topic": "t", "wrods": "1"}, wantErr: []string{`flow typed has no input "wrods"; did you mean "words"?`}},
		{name: "several problems", given: map[string]any{"zzz": "1", "words": "x"}, wantErr: []string{`no input "zzz"; its inputs are: topic, words`, `"topic" (string) is required`, `"words" must be an integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.BindInputs(tt.given)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Errorf("error %T is not an *InputError", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestBindInputsDoesNotShareDefaults(t *testing.T) {
	f := mustParse(t, typedInputs)
	a, err := f.BindInputs(map[string]any{"topic": "t"})
	if err != nil {
		t.Fatal(err)
	}
	a["tags"].([]any)[0] = "changed"
	b, _ := f.BindInputs(map[string]any{"topic": "t"})
	if b["tags"].([]any)[0] != "a" {
		t.Error("a run changed the flow's default")
	}
}

func TestParseInputArgs(t *testing.T) {
	got, err := ParseInputArgs([]string{"topic=a=b", "n=", " words = 3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"topic": "a=b", "n": "", "words": " 3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	for _, bad := range [][]string{{"topic"}, {"=x"}, {"a=1", "a=2"}} {
		if _, err := ParseInputArgs(bad); err == nil {
			t.Errorf("ParseInputArgs(%q) gives no error", bad)
		} else if _, ok := err.(*InputError); !ok {
			t.Errorf("ParseInputArgs(%q) error is %T", bad, err)
		}
	}
}

func TestReadInputsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ReadInputsFile(write("in.json", `{"topic": "go", "words": 3, "tags": ["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"topic": "go", "words": 3.0, "tags": []any{"a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("json: got %#v", got)
	}
	got, err = ReadInputsFile(write("in.yaml", "topic: go\nwords: 3\nmeta: {1: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"topic": "go", "words": 3, "meta": map[string]any{"1": "x"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("yaml: got %#v", got)
	}
	f := mustParse(t, typedInputs)
	if _, err := f.BindInputs(got); err != nil {
		t.Errorf("binding a YAML inputs file: %v", err)
	}
	for name, body := range map[string]string{"list.yaml": "- a\n", "bad.json": "{", "bad.yaml": "a: [\n"} {
		if _, err := ReadInputsFile(write(name, body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadInputsFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file gives no error")
	}
}
