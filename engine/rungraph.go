package engine

import (
	"context"

	"github.com/kitaruhq/kitaru/flowspec"
)

// GraphStep is one step of a run's flow as a graph of it draws it.
type GraphStep struct {
	ID   string        `json:"id"`
	Kind flowspec.Kind `json:"kind"`
	// Needs are every step it depends on: its needs and the steps its
	// expressions read, as the scheduler waits for them.
	Needs []string `json:"needs"`
	// Stage is one past the latest stage of its needs (1 with none): the
	// steps of one stage may run side by side.
	Stage   int  `json:"stage"`
	Foreach bool `json:"foreach,omitempty"`
}

// Graph is the dependency graph of the flow a run recorded (its snapshot,
// as an edited retry left it), steps in file order.
func (e *Engine) Graph(ctx context.Context, ref string) ([]GraphStep, error) {
	meta, err := e.metaOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	f, err := e.loadFlow(ctx, meta)
	if err != nil {
		return nil, err
	}
	return graphOf(f), nil
}

func graphOf(f *flowspec.Flow) []GraphStep {
	stage := map[string]int{}
	for _, s := range f.Topo() {
		n := 1
		for _, d := range s.Deps {
			n = max(n, stage[d]+1)
		}
		stage[s.ID] = n
	}
	out := make([]GraphStep, len(f.Steps))
	for i, s := range f.Steps {
		out[i] = GraphStep{ID: s.ID, Kind: s.Kind, Needs: append([]string{}, s.Deps...), Stage: stage[s.ID], Foreach: s.Foreach != nil}
	}
	return out
}
