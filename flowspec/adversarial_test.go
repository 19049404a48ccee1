package flowspec

import (
	"fmt"
	"strings"
	"testing"
)

// Inputs built to hurt a loader: deep nesting, alias fan-out, long cycles.
func TestAdversarialInputs(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("name: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("steps:\n  s:\n    kind: wait\n    question: q\n    schema: {type: array, items: *a9}\n")
	var cycle strings.Builder
	cycle.WriteString("name: ring\nsteps:\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&cycle, "  s%d: {kind: checkpoint, value: \"${{ steps.s%d.output }}\"}\n", i, (i+1)%5000)
	}
	cases := map[string]string{
		"deep flow nesting": "name: deep\nsteps: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n",
		"deep expression":   "name: deep\nsteps:\n  a: {kind: checkpoint, value: '${{ " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + " }}'}\n",
		"alias bomb":        bomb.String(),
		"long cycle":        cycle.String(),
		"many placeholders": "name: many\nsteps:\n  a: {kind: llm, prompt: '" + strings.Repeat("${{ 1 }}", 20000) + "'}\n",
		"unclosed quotes":   "name: q\nsteps:\n  a: {kind: llm, prompt: '" + strings.Repeat("${{ \"", 2000) + "'}\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(src), Options{})
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
		})
	}
}
