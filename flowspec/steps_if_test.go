package flowspec

import (
	"strings"
	"testing"
)

// `if: always` (a status function not called) says to call it.
func TestIfFunctionNotCalled(t *testing.T) {
	t.Parallel()
	_, err := Parse("f.yaml", []byte("name: f\nsteps:\n  x: {kind: checkpoint, value: a}\n  y: {kind: checkpoint, needs: [x], if: always, value: b}\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "call it: always()") {
		t.Errorf("if: always gives %v; want it to say to call it", err)
	}
}
