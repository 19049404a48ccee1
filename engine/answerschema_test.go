package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An answer is checked against a schema compiled the way the flow's loader
// compiles it (flowspec.CompileSchema): a schema in a record that refers to
// another document is refused, not followed onto the disk.
func TestValidateAnswerCompilesLikeTheLoader(t *testing.T) {
	t.Parallel()
	other := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(other, []byte(`{"type": "string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		schema map[string]any
		answer any
		errHas string // "" when the answer fits
	}{
		{name: "fits", schema: map[string]any{"type": "boolean"}, answer: true},
		{name: "does not fit", schema: map[string]any{"type": "boolean"}, answer: "yes", errHas: "the schema wants boolean"},
		{name: "refers to a file", schema: map[string]any{"$ref": "file://" + other}, answer: "x", errHas: "may not refer to other documents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := validateAnswer(tt.schema, tt.answer)
			switch {
			case tt.errHas == "" && err != nil:
				t.Fatalf("validateAnswer: %v", err)
			case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
				t.Fatalf("validateAnswer = %v, want an error with %q", err, tt.errHas)
			}
		})
	}
}
