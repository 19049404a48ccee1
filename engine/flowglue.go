package engine

import (
	"github.com/kitaruhq/kitaru/flowspec"
)

// parseFlow loads a run's flow snapshot. It was fully checked when the run
// started, so its expressions compile when a step first evaluates them: a
// replay or resume of a long run pays only for the steps it runs.
func parseFlow(file string, src []byte) (*flowspec.Flow, error) {
	return flowspec.Parse(file, src, flowspec.Options{Lazy: true})
}

// bindInputs checks and coerces given inputs against the flow's.
func bindInputs(f *flowspec.Flow, given map[string]any) (map[string]any, error) {
	return f.BindInputs(given)
}
