package flowspec

import (
	"strings"
	"testing"
)

func TestInputTypesCheck(t *testing.T) {
	t.Parallel()
	const head = `name: t
inputs:
  topic: {type: string}
  n: {type: integer, default: 3}
  x: {type: number, default: 1.5}
  ok: {type: boolean, default: true}
  opt: {type: string, default: null}
  tags: {type: list, default: []}
  meta: {type: object, default: {}}
steps:
  a:
    kind: checkpoint
    value: '`
	tests := []struct {
		expr    string
		wantErr string // "" when the flow is valid
	}{
		{"${{ inputs.topic + inputs.n }}", "mismatched types string and int) (declared: inputs.topic string, inputs.n integer)"},
		{"${{ inputs.n + inputs.topic }}", "mismatched types int and string"},
		{"${{ inputs.ok + 1 }}", "mismatched types bool and int) (declared: inputs.ok boolean)"},
		{`${{ inputs["topic"] * 2 }}`, "mismatched types string and int"},
		{"${{ inputs.tags + inputs.tags }}", "(declared: inputs.tags list)"},
		{"${{ -inputs.topic }}", "mismatched type string"},
		{"${{ !inputs.n }}", "mismatched type int"},
		{"${{ inputs.topic < 3 }}", "mismatched types string and int"},
		{"${{ inputs.topic contains inputs.n }}", "mismatched types string and int"},
		{"${{ inputs.topic + inputs.x }}", "mismatched types string and float64"},
		// The run turns a whole float into an int where one is needed,
		// where the checker would refuse: these run, so they pass.
		{"${{ repeat(inputs.topic, inputs.x) }}", ""},
		{"${{ inputs.tags[inputs.x] }}", ""},
		{"${{ inputs.n .. inputs.x }}", ""},
		{"${{ inputs.x % 3 }}", ""}, // fails at run time, but is left to it
		{"${{ inputs.tags.first }}", ""},
		{"${{ inputs.topic + string(inputs.n) }}", ""},
		{`${{ inputs.ok ? "y" : "n" }}`, ""},
		{`${{ (inputs.opt ?? "z") + inputs.topic }}`, ""},
		{"${{ inputs.opt + 1 }}", ""}, // a null default: its type is not known
		{`${{ join(inputs.tags, ",") + inputs.topic }}`, ""},
		{"${{ inputs.n % 2 == 0 && len(inputs.tags) > 0 }}", ""},
		{"${{ inputs.n * inputs.x > 2 }}", ""},
		{"${{ inputs.meta.a.b + 1 }}", ""},
		{"${{ inputs.topic == nil || inputs.n == nil }}", ""},
		{`${{ inputs.topic + " " + inputs.topic }}`, ""},
		{"${{ toJSON(inputs) + inputs.topic }}", ""},
		{"${{ map(inputs.tags, # + 1) }}", ""},
		{"${{ inputs.topic }} and ${{ inputs.n }}", ""},
	}
	// These also evaluate without error.
	runs := map[string]bool{
		"${{ repeat(inputs.topic, inputs.x) }}": true, "${{ inputs.tags[inputs.x] }}": true,
		"${{ inputs.n .. inputs.x }}": true, "${{ inputs.topic + string(inputs.n) }}": true,
		`${{ (inputs.opt ?? "z") + inputs.topic }}`: true,
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			src := head + tt.expr + "'\n"
			_, err := Parse("f.yaml", []byte(src), Options{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("a valid flow was rejected: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to hold %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && !strings.HasPrefix(err.Error(), "f.yaml:13:") {
				t.Errorf("the error is not at the expression's line: %v", err)
			}
			// A run's own snapshot loads lazily and is not checked again;
			// evaluated so, what the check refuses fails at run time too.
			lazy, err := Parse("f.yaml", []byte(src), Options{Lazy: true})
			if err != nil {
				t.Fatalf("lazy load: %v", err)
			}
			in, err := lazy.BindInputs(map[string]any{"topic": "hello", "tags": []any{"a", "b"}})
			if err != nil {
				t.Fatal(err)
			}
			_, runErr := lazy.Step("a").Checkpoint.Value.Render(&Scope{Inputs: in})
			if tt.wantErr != "" && runErr == nil {
				t.Errorf("refused, yet it runs")
			}
			if runs[tt.expr] && runErr != nil {
				t.Errorf("it should run: %v", runErr)
			}
		})
	}
}
