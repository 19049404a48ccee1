package engine

import (
	"errors"

	"github.com/kitaruhq/kitaru/flowspec"
)

// parseFlow compiles a run's flow snapshot.
var parseFlow = func(file string, src []byte) (*flowspec.Flow, error) {
	return nil, errors.New("flowspec.Parse is not available yet")
}

// bindInputs checks and coerces given inputs against the flow's.
var bindInputs = func(f *flowspec.Flow, given map[string]any) (map[string]any, error) {
	return given, nil
}
