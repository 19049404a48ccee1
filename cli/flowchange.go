package cli

import (
	"strings"

	"github.com/kitaruhq/kitaru/engine"
)

// flowChangeText says what retry --flow changed in a run: "now runs the
// edited flow.yaml: slow edited; notify added; cleanup removed".
func flowChangeText(c *engine.FlowChange) string {
	if c == nil {
		return "now runs an edited flow"
	}
	s := "now runs the edited flow"
	if c.File != "" {
		s = "now runs the edited " + nearPath(c.File)
	}
	var parts []string
	for _, p := range []struct {
		steps []string
		what  string
	}{{c.Edited, "edited"}, {c.Added, "added"}, {c.Removed, "removed"}} {
		if len(p.steps) > 0 {
			parts = append(parts, strings.Join(p.steps, ", ")+" "+p.what)
		}
	}
	if len(parts) == 0 {
		return s + " (no step's definition changed)"
	}
	return s + ": " + strings.Join(parts, "; ")
}
