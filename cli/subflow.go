package cli

import (
	"fmt"
	"io"

	"github.com/kitaruhq/kitaru/engine"
)

// parentStep names the step (and item) of its parent that started a child
// run: per_doc, per_doc[2].
func parentStep(p *engine.ParentRef) string {
	if p.Item != nil {
		return fmt.Sprintf("%s[%d]", p.Step, *p.Item)
	}
	return p.Step
}

// writeItemChildren lists, under executions get, the child runs of a
// foreach flow step's items.
func writeItemChildren(w io.Writer, s engine.StepResult) {
	first := true
	for _, it := range s.Items {
		if it.ChildRun == "" {
			continue
		}
		if first {
			fmt.Fprintf(w, "\n%s child runs:\n", s.ID)
			first = false
		}
		fmt.Fprintf(w, "  [%d] %s %s\n", it.Index, it.ChildRun, it.Status)
	}
}
