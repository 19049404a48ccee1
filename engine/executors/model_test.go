package executors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/flowspec"
)

func TestUnfenced(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"```json\n{\"a\": 1}\n```":           "{\"a\": 1}\n",
		"  ```JSON\n[1]```\n":                "[1]",
		"```\n\"x\"\n```":                    "\"x\"\n",
		"{\"a\": 1}":                         "{\"a\": 1}",
		"```python\nprint(1)\n```":           "```python\nprint(1)\n```",
		"```json {\"a\": 1}```":              "```json {\"a\": 1}```",
		"See:\n```json\n{}\n```":             "See:\n```json\n{}\n```",
		"```json\n{}\n```\n```json\n[]\n```": "```json\n{}\n```\n```json\n[]\n```",
		"``````":                             "``````",
	} {
		if got := Unfenced(in); got != want {
			t.Errorf("Unfenced(%q) = %q, want %q", in, got, want)
		}
	}
}

// The model is told every place its answer broke the schema, up to
// maxReasons, and the schema; the step's error names the first.
func TestReaskListsReasons(t *testing.T) {
	t.Parallel()
	var many []flowspec.Violation
	for i := range maxReasons + 3 {
		many = append(many, flowspec.Violation{Pointer: fmt.Sprintf("/%d", i), Reason: "got string, want integer"})
	}
	b := &badAnswer{violations: many}
	msg := b.reask(&flowspec.AnswerSchema{JSON: []byte(`{"type":"array"}`)})
	if n := strings.Count(msg, "\n- at /"); n != maxReasons {
		t.Errorf("%d reasons listed, want %d:\n%s", n, maxReasons, msg)
	}
	if !strings.Contains(msg, "\n- and 3 more\n") || !strings.HasSuffix(msg, "following this JSON Schema:\n{\"type\":\"array\"}") {
		t.Errorf("re-ask message:\n%s", msg)
	}
	if got := b.Error(); got != "breaks the schema at /0: got string, want integer (and in 22 more places)" {
		t.Errorf("error %q", got)
	}
}
