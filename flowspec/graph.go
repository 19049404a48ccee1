package flowspec

import (
	"fmt"
	"strings"
)

// graph checks the dependency graph for cycles and computes the
// topological order and the dependents of each step.
func (l *loader) graph() {
	f := l.flow
	index := l.comp.index // each step's place in f.Steps
	// The dependents of every step share one array, in file order.
	count := make([]int, len(f.Steps))
	edges, with := 0, 0
	for _, s := range f.Steps {
		for _, d := range s.Deps {
			if count[index[d]] == 0 {
				with++
			}
			count[index[d]]++
			edges++
		}
	}
	all := make([]string, 0, edges)
	f.succ = make(map[string][]string, with)
	for i, s := range f.Steps {
		if n := count[i]; n > 0 {
			f.succ[s.ID] = all[len(all) : len(all) : len(all)+n]
			all = all[:len(all)+n]
		}
	}
	for _, s := range f.Steps {
		for _, d := range s.Deps {
			f.succ[d] = append(f.succ[d], s.ID)
		}
	}
	for _, c := range findCycles(f.Steps, index) {
		first := f.Steps[index[c[0]]]
		if len(c) == 2 {
			l.e.add(first.Pos, "step %q depends on itself through its own expressions; a step cannot read its own output", c[0])
			continue
		}
		l.e.add(first.Pos, "steps depend on each other in a cycle: %s; remove one of these references", strings.Join(c, " → "))
	}
	f.topo = topo(f.Steps, index)
}

// findCycles returns each cycle once, as a path in the direction data flows
// (a → b: b reads a), starting and ending at its step that comes first in
// the file.
func findCycles(steps []*Step, index map[string]int) [][]string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(steps))
	var out [][]string
	seen := map[string]bool{}
	// An explicit stack: a 10,000-step chain must not overflow goroutine
	// stacks in recursion.
	type frame struct {
		i    int
		next int
	}
	var path []int
	for start := range steps {
		if color[start] != white {
			continue
		}
		stack := []frame{{start, 0}}
		color[start] = grey
		path = append(path[:0], start)
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			deps := steps[top.i].Deps
			if top.next >= len(deps) {
				color[top.i] = black
				stack = stack[:len(stack)-1]
				path = path[:len(path)-1]
				continue
			}
			d, ok := index[deps[top.next]]
			top.next++
			if !ok {
				continue
			}
			switch color[d] {
			case white:
				color[d] = grey
				stack = append(stack, frame{d, 0})
				path = append(path, d)
			case grey:
				// path from d to top, following "depends on" edges.
				k := len(path) - 1
				for k >= 0 && path[k] != d {
					k--
				}
				cyc := append([]int(nil), path[k:]...)
				out = appendCycle(out, seen, steps, cyc)
			}
		}
	}
	return out
}

func appendCycle(out [][]string, seen map[string]bool, steps []*Step, cyc []int) [][]string {
	// cyc follows "depends on"; reverse it so it reads the way data flows.
	for i, j := 0, len(cyc)-1; i < j; i, j = i+1, j-1 {
		cyc[i], cyc[j] = cyc[j], cyc[i]
	}
	// Start at the step that comes first in the file.
	m := 0
	for i := range cyc {
		if cyc[i] < cyc[m] {
			m = i
		}
	}
	rot := append(append([]int(nil), cyc[m:]...), cyc[:m]...)
	ids := make([]string, 0, len(rot)+1)
	for _, i := range rot {
		ids = append(ids, steps[i].ID)
	}
	ids = append(ids, ids[0])
	key := strings.Join(ids, "\x00")
	if seen[key] {
		return out
	}
	seen[key] = true
	return append(out, ids)
}

// topo orders steps dependencies first, ties in file order. Steps in a
// cycle are left out (the flow does not load then anyway).
func topo(steps []*Step, index map[string]int) []*Step {
	indeg := make([]int, len(steps))
	succ := make([][]int, len(steps))
	for i, s := range steps {
		for _, d := range s.Deps {
			if j, ok := index[d]; ok {
				indeg[i]++
				succ[j] = append(succ[j], i)
			}
		}
	}
	var h intHeap
	for i := range steps {
		if indeg[i] == 0 {
			h.push(i)
		}
	}
	out := make([]*Step, 0, len(steps))
	for len(h) > 0 {
		i := h.pop()
		out = append(out, steps[i])
		for _, j := range succ[i] {
			indeg[j]--
			if indeg[j] == 0 {
				h.push(j)
			}
		}
	}
	return out
}

// intHeap is a min-heap of step indexes (container/heap would box each).
type intHeap []int

func (h *intHeap) push(x int) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *intHeap) pop() int {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l] < s[m] {
			m = l
		}
		if r < len(s) && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// Step returns the step with id, or nil.
func (f *Flow) Step(id string) *Step { return f.byID[id] }

// Topo returns the steps with every step after its dependencies; steps
// that could go in either order keep their file order.
func (f *Flow) Topo() []*Step { return f.topo }

// StepIDs returns the step ids in file order.
func (f *Flow) StepIDs() []string {
	out := make([]string, len(f.Steps))
	for i, s := range f.Steps {
		out[i] = s.ID
	}
	return out
}

// Dependents returns the steps that depend directly on id, in file order.
// The list is the flow's own, shared: read it, do not change it (a
// scheduler asks for it at every step that finishes).
func (f *Flow) Dependents(id string) []string {
	d := f.succ[id]
	return d[:len(d):len(d)]
}

// Descendants returns every step that depends, directly or not, on any of
// ids; ids themselves are always left out.
func (f *Flow) Descendants(ids ...string) map[string]bool {
	out := map[string]bool{}
	queue := append([]string(nil), ids...)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, d := range f.succ[id] {
			if !out[d] {
				out[d] = true
				queue = append(queue, d)
			}
		}
	}
	for _, id := range ids {
		delete(out, id)
	}
	return out
}

// Mermaid returns the step graph as a Mermaid flowchart: every step a node,
// `a --> b` when b depends on a.
func (f *Flow) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, s := range f.Steps {
		fmt.Fprintf(&b, "    %s[\"%s (%s)\"]\n", mermaidID(s.ID), mermaidLabel(s.ID), s.Kind)
	}
	for _, s := range f.Steps {
		for _, d := range s.Deps {
			fmt.Fprintf(&b, "    %s --> %s\n", mermaidID(d), mermaidID(s.ID))
		}
	}
	return b.String()
}

// mermaidID keeps ids Mermaid accepts as node names; "end" is a keyword.
func mermaidID(id string) string {
	if strings.EqualFold(id, "end") {
		return id + "_"
	}
	return id
}

func mermaidLabel(s string) string {
	return strings.NewReplacer(`"`, "#quot;").Replace(s)
}

// DOT returns the step graph in Graphviz DOT.
func (f *Flow) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n", f.Name)
	b.WriteString("    rankdir=TB;\n    node [shape=box];\n")
	for _, s := range f.Steps {
		fmt.Fprintf(&b, "    %q [label=%q];\n", s.ID, s.ID+" ("+string(s.Kind)+")")
	}
	for _, s := range f.Steps {
		for _, d := range s.Deps {
			fmt.Fprintf(&b, "    %q -> %q;\n", d, s.ID)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
