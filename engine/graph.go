package engine

import "github.com/kitaruhq/kitaru/flowspec"

// graph is the part of a flow's dependency graph the scheduler walks; it is
// built from Step.Deps so it holds only ids.
type graph struct {
	order     []string // YAML order
	steps     map[string]*flowspec.Step
	succ      map[string][]string // step -> steps that depend on it
	topoOrder []string            // topological order, computed once
}

func newGraph(f *flowspec.Flow) *graph {
	g := &graph{steps: make(map[string]*flowspec.Step, len(f.Steps)), succ: map[string][]string{}}
	for _, s := range f.Steps {
		g.order = append(g.order, s.ID)
		g.steps[s.ID] = s
	}
	for _, s := range f.Steps {
		for _, d := range s.Deps {
			g.succ[d] = append(g.succ[d], s.ID)
		}
	}
	return g
}

// topo returns the steps in a dependency order (YAML order among equals).
func (g *graph) topo() []string {
	if g.topoOrder == nil {
		g.topoOrder = g.computeTopo()
	}
	return g.topoOrder
}

func (g *graph) computeTopo() []string {
	indeg := make(map[string]int, len(g.order))
	for _, id := range g.order {
		indeg[id] = len(g.steps[id].Deps)
	}
	var out, queue []string
	for _, id := range g.order {
		if indeg[id] == 0 {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		out = append(out, id)
		for _, s := range g.succ[id] {
			indeg[s]--
			if indeg[s] == 0 {
				queue = append(queue, s)
			}
		}
	}
	return out // flowspec refuses cycles, so this holds every step
}

// descendants returns every step downstream of any of ids (not ids).
func (g *graph) descendants(ids ...string) map[string]bool {
	out := map[string]bool{}
	stack := append([]string(nil), ids...)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range g.succ[id] {
			if !out[s] {
				out[s] = true
				stack = append(stack, s)
			}
		}
	}
	return out
}
