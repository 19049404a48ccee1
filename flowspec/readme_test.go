package flowspec

import (
	"os"
	"regexp"
	"testing"
)

// The README's "flow format in one screen" must stay a flow that loads.
func TestREADMEFlowLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("the README has no yaml block")
	}
	for _, b := range blocks {
		f, err := Parse("README.md", b[1], Options{})
		if err != nil {
			t.Errorf("a flow in the README does not load:\n%v", err)
			continue
		}
		if len(f.Steps) < 5 {
			t.Errorf("the README's flow has %d steps; it should show every kind", len(f.Steps))
		}
	}
}
