package cli

import (
	"fmt"
	"strings"

	"github.com/kitaruhq/kitaru/flowspec"
)

// graphText is a flow's graph for a terminal: the steps in the order they
// can start, grouped in stages (a step's stage is one past the latest of
// its dependencies', so the steps of one stage may run side by side),
// each with what it waits for.
func graphText(f *flowspec.Flow) string {
	stage := map[string]int{}
	last := 0
	for _, s := range f.Topo() {
		n := 1
		for _, d := range s.Deps {
			n = max(n, stage[d]+1)
		}
		stage[s.ID] = n
		last = max(last, n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s in %d %s\n", f.Name, len(f.Steps), plural(len(f.Steps), "step", "steps"), last, plural(last, "stage", "stages"))
	tw := newTable(&b)
	for n := 1; n <= last; n++ {
		for _, s := range f.Topo() {
			if stage[s.ID] != n {
				continue
			}
			kind := string(s.Kind)
			if s.Foreach != nil {
				kind += ", foreach"
			}
			after := ""
			if len(s.Deps) > 0 {
				after = "after " + strings.Join(s.Deps, ", ")
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", n, s.ID, kind, after)
		}
	}
	tw.Flush()
	return b.String()
}
