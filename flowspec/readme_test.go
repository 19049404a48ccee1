package flowspec

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

// The README's flows must load: "the flow format in one screen" (the
// first whole flow, which shows every kind of step) and the fragments of
// steps other sections show, each loaded as the steps of a flow.
func TestREADMEFlowLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("the README has no yaml block")
	}
	whole := 0
	for _, b := range blocks {
		text := b[1]
		if !bytes.HasPrefix(text, []byte("name:")) {
			text = append([]byte("name: readme\nsteps:\n"), text...)
		}
		f, err := Parse("README.md", text, Options{})
		if err != nil {
			t.Errorf("a flow in the README does not load:\n%v\n%s", err, text)
			continue
		}
		if bytes.HasPrefix(b[1], []byte("name:")) {
			if whole++; whole == 1 && len(f.Steps) < 5 {
				t.Errorf("the README's flow has %d steps; it should show every kind", len(f.Steps))
			}
		}
	}
	if whole == 0 {
		t.Error("the README shows no whole flow")
	}
}
