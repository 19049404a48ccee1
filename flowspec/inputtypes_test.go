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
		{"${{ inputs.tags.first }}", "(declared: inputs.tags list)"},
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
			// A run's own snapshot loads lazily and is not checked again.
			if _, err := Parse("f.yaml", []byte(src), Options{Lazy: true}); err != nil {
				t.Errorf("lazy load: %v", err)
			}
		})
	}
}
