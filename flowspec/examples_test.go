package flowspec

import (
	"path/filepath"
	"testing"
)

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := Load(file, Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(f.Topo()) != len(f.Steps) {
				t.Errorf("Topo has %d steps, want %d", len(f.Topo()), len(f.Steps))
			}
			for _, s := range f.Steps {
				if len(s.Fingerprint()) != 64 {
					t.Errorf("step %s: fingerprint %q", s.ID, s.Fingerprint())
				}
			}
		})
	}
}
