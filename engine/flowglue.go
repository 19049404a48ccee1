package engine

import (
	"github.com/kitaruhq/kitaru/flowspec"
)

// parseFlow compiles a run's flow snapshot.
func parseFlow(file string, src []byte) (*flowspec.Flow, error) {
	return flowspec.Parse(file, src, flowspec.Options{})
}

// bindInputs checks and coerces given inputs against the flow's.
func bindInputs(f *flowspec.Flow, given map[string]any) (map[string]any, error) {
	return f.BindInputs(given)
}
