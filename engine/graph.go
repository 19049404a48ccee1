package engine

import "github.com/kitaruhq/kitaru/flowspec"

// graph is the engine's handle on a flow's dependency graph. flowspec owns
// the graph (its order, dependents and descendants, with one tie-break); this
// only keeps the ids and an index the scheduler reads at every step.
type graph struct {
	flow    *flowspec.Flow
	order   []string // file order
	steps   map[string]*flowspec.Step
	topoIDs []string
}

func newGraph(f *flowspec.Flow) *graph {
	g := &graph{flow: f, order: f.StepIDs(), steps: make(map[string]*flowspec.Step, len(f.Steps))}
	for _, s := range f.Steps {
		g.steps[s.ID] = s
	}
	for _, s := range f.Topo() {
		g.topoIDs = append(g.topoIDs, s.ID)
	}
	return g
}

// topo returns the step ids dependencies first, ties in file order (see
// flowspec.Flow.Topo).
func (g *graph) topo() []string { return g.topoIDs }

// descendants returns every step downstream of any of ids (not ids).
func (g *graph) descendants(ids ...string) map[string]bool { return g.flow.Descendants(ids...) }
