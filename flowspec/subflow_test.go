package flowspec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const childFlow = `name: child
inputs:
  text: {type: string}
  style: {type: string, default: short}
steps:
  s: {kind: checkpoint, value: "${{ inputs.text }}"}
output: ${{ steps.s.output }}
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSubFlowLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, parent string
		files        map[string]string
		want         string // "" : loads; else in the error
	}{
		{"ok", "steps:\n  a: {kind: flow, flow: sub/child.yaml, inputs: {text: hi}}\n", nil, ""},
		{"foreach", "inputs:\n  docs: {type: list}\nsteps:\n  a:\n    kind: flow\n    flow: sub/child.yaml\n    foreach: ${{ inputs.docs }}\n    inputs: {text: \"${{ item }}\"}\n", nil, ""},
		{"unknown input", "steps:\n  a: {kind: flow, flow: sub/child.yaml, inputs: {text: hi, txt: no}}\n", nil, `main.yaml:3:60: step "a": the sub-flow sub/child.yaml declares no input "txt" (it has inputs text, style)`},
		{"missing input", "steps:\n  a: {kind: flow, flow: sub/child.yaml}\n", nil, `main.yaml:3:6: step "a": the sub-flow sub/child.yaml needs input text; give it under inputs:`},
		{"no flow", "steps:\n  a: {kind: flow}\n", nil, `main.yaml:3:6: flow step "a" needs flow:`},
		{"missing file", "steps:\n  a: {kind: flow, flow: nope.yaml}\n", nil, `main.yaml:3:25: step "a": the sub-flow nope.yaml cannot be read`},
		{"cycle", "steps:\n  a: {kind: flow, flow: loop/a.yaml}\n",
			map[string]string{"loop/a.yaml": "name: a\nsteps:\n  x: {kind: flow, flow: b.yaml}\n", "loop/b.yaml": "name: b\nsteps:\n  y: {kind: flow, flow: ../main.yaml}\n"},
			"the sub-flow ../main.yaml includes itself: main.yaml -> loop/a.yaml -> loop/b.yaml -> main.yaml"},
		{"child error", "steps:\n  a: {kind: flow, flow: bad.yaml}\n", map[string]string{"bad.yaml": "name: bad\nsteps:\n  x: {kind: llm}\n"},
			"bad.yaml:3:6: llm step \"x\" needs a prompt"},
		{"output json", "steps:\n  a: {kind: flow, flow: sub/child.yaml, inputs: {text: hi}, output: json}\n", nil, "output: json only goes with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"main.yaml": "name: main\n" + c.parent, "sub/child.yaml": childFlow}
			for k, v := range c.files {
				files[k] = v
			}
			dir := writeFiles(t, files)
			f, err := Load(filepath.Join(dir, "main.yaml"), Options{})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := f.Steps[0]; s.Sub == nil || s.Sub.Flow == nil || s.Sub.Flow.Name != "child" {
					t.Fatalf("sub-flow not loaded: %+v", s.Sub)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), c.want) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
		})
	}
}

// The parent step's fingerprint covers the sub-flow's content, and a
// snapshot loads the sub-flow from the sources kept for it.
func TestSubFlowFingerprintAndSnapshot(t *testing.T) {
	t.Parallel()
	parent := "name: main\nsteps:\n  a: {kind: flow, flow: sub/child.yaml, inputs: {text: hi}}\n  b: {kind: checkpoint, value: x}\n"
	dir := writeFiles(t, map[string]string{"main.yaml": parent, "sub/child.yaml": childFlow})
	f1, err := Load(filepath.Join(dir, "main.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcs := f1.SubFlows()
	if string(srcs["sub/child.yaml"]) != childFlow || len(srcs) != 1 {
		t.Fatalf("SubFlows = %q", srcs)
	}
	snap, err := Parse("elsewhere/main.yaml", f1.Source, Options{Lazy: true, SubFlows: srcs})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Steps[0].Fingerprint() != f1.Steps[0].Fingerprint() {
		t.Fatal("the snapshot's fingerprint differs from the file's")
	}
	if err := os.WriteFile(filepath.Join(dir, "sub/child.yaml"), []byte(childFlow+"description: edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f2, err := Load(filepath.Join(dir, "main.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f2.Steps[0].Fingerprint() == f1.Steps[0].Fingerprint() {
		t.Fatal("editing the sub-flow left the step's fingerprint unchanged")
	}
	if f2.Steps[1].Fingerprint() != f1.Steps[1].Fingerprint() {
		t.Fatal("editing the sub-flow changed another step's fingerprint")
	}
}
