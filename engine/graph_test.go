package engine

import (
	"slices"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// tieFlow is in a dependency order already, so every order that breaks
// ties by file position must keep it: p q r s.
const tieFlow = `
name: ties
inputs:
  x: {type: string, default: x}
  y: {type: string, default: y}
steps:
  p: {kind: checkpoint, value: p}
  q: {kind: checkpoint, needs: [p], value: "${{ inputs.x }}"}
  r: {kind: checkpoint, value: "${{ inputs.y }}"}
  s: {kind: checkpoint, value: "${{ steps.q.output }}${{ steps.r.output }}"}
`

// The engine walks the flow in flowspec's order: the scheduler, the
// fingerprints and the replay planner see the same order as every display.
func TestGraphOrderIsFlowspecs(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(tieFlow)
	g := newGraph(f)
	if want := []string{"p", "q", "r", "s"}; !slices.Equal(g.topo(), want) {
		t.Errorf("topo = %v, want %v", g.topo(), want)
	}
	var want []string
	for _, s := range f.Topo() {
		want = append(want, s.ID)
	}
	if !slices.Equal(g.topo(), want) {
		t.Errorf("engine topo %v, flowspec Topo %v", g.topo(), want)
	}
}

// When a step is downstream of two changed steps, its reason names the one
// first in the file.
func TestReplayReasonNamesFirstChangedStep(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	src := te.start(te.flow(tieFlow), nil)
	wantStatus(t, src, RunCompleted)
	run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: src.ID, Inputs: map[string]any{"x": "X", "y": "Y"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	wantWhy(t, run, "s", src.ID, Reason{Code: runstore.ReasonDownstream, Step: "q"})
}
