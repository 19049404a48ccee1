package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EInitWritesAFlowThatRunsOffline: the starter validates and runs
// with the mock model as its comments and kitaru's words say, and a
// second init leaves the file alone.
func TestE2EInitWritesAFlowThatRunsOffline(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	r := e.must(0, "init")
	checkGolden(t, "cli/init.txt.golden", r.Stdout)
	e.must(0, "validate", "flow.yaml")
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "A mock answer.")
	if out := printedOutput(t, e.must(0, "run", "flow.yaml").Stdout); out != "A mock answer." {
		t.Errorf("the starter's output: %q", out)
	}
	before, _ := os.ReadFile(filepath.Join(e.Dir, "flow.yaml"))
	r = e.must(ExitUsage, "init")
	if !strings.Contains(r.Stderr, "flow.yaml exists and is left as it is") {
		t.Errorf("a second init: %s", r)
	}
	if after, _ := os.ReadFile(filepath.Join(e.Dir, "flow.yaml")); string(after) != string(before) {
		t.Error("a second init changed the file")
	}

	e.must(0, "init", "flows/my notes.yaml")
	raw, err := os.ReadFile(filepath.Join(e.Dir, "flows", "my notes.yaml"))
	if err != nil || !strings.Contains(string(raw), `kitaru run 'flows/my notes.yaml'`) {
		t.Errorf("the starter in a new folder does not name itself as a command would: %v\n%s", err, raw)
	}
	e.must(0, "validate", "flows/my notes.yaml")
}
