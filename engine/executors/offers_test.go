package executors

import (
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
)

// An MCP tool is offered as SERVER__TOOL when that is a name providers
// take and no other tool has it; else as the name made to fit, still
// unique; the flow's name maps to it and back.
func TestWireNames(t *testing.T) {
	t.Parallel()
	files := &flowspec.MCPServer{Name: "files"}
	long := strings.Repeat("x", 70)
	tests := []struct {
		name  string
		local []string // tools of tools:, named first
		tools []string // files serves these, in order
		want  []string // their wire names
	}{
		{"plain", nil, []string{"read_file", "write-file"}, []string{"files__read_file", "files__write-file"}},
		{"bad characters", nil, []string{"read.file", "a/b c"}, []string{"files__read_file_", "files__a_b_c_"}},
		{"taken by a tool of tools:", []string{"files__read_file"}, []string{"read_file"}, []string{"files__read_file_"}},
		{"too long", nil, []string{long, long + "y"}, []string{"files__xxx", "files__xxx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &offers{byName: map[string]*offer{}, byWire: map[string]*offer{}}
			for _, n := range tt.local {
				o.add(&offer{name: n, wire: n, local: &flowspec.Tool{Name: n}})
			}
			for i, tool := range tt.tools {
				of := &offer{name: "files." + tool, server: files, mcp: work.MCPTool{Name: tool}}
				of.wire = o.freeWire(of)
				o.add(of)
				if !wireNameRE.MatchString(of.wire) || !strings.HasPrefix(of.wire, tt.want[i]) {
					t.Errorf("%s is offered as %q, want a valid name starting %q", of.name, of.wire, tt.want[i])
				}
				if o.nameOf(of.wire) != of.name || o.wireOf(of.name) != of.wire {
					t.Errorf("%s does not map to %s and back", of.name, of.wire)
				}
			}
			if len(o.byWire) != len(o.list) {
				t.Errorf("two tools share a name: %v", o.byWire)
			}
		})
	}
}
