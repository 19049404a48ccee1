package filestore

import (
	"path/filepath"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstore.Store { return New(t.TempDir()) })
}

// Run and step directories are made without cleaning the whole path, and
// are what filepath.Join makes, whatever the names.
func TestDirsAsJoinMakesThem(t *testing.T) {
	t.Parallel()
	s := New(filepath.Join(t.TempDir(), "data"))
	for _, tt := range []struct{ id, step, name string }{
		{"kr-abc", "s1", ""}, {"kr-abc", "a-b_c", "prompt-3.json"}, {"kr-abc", "", "run.json"},
		{"kr-abc", "..", ""}, {"kr-abc", ".", "x"}, {"kr-abc", "a/../b", ""}, {"kr-a/b", "c", ""}, {"", "s", ""},
		{"kr-abc", `a\b`, ""}, {"kr-abc", "a..b", ""},
	} {
		wantRun := filepath.Join(s.Root(), tt.id)
		wantStep := filepath.Join(s.Root(), tt.id, "steps", tt.step)
		if got := s.RunDir(tt.id); got != wantRun {
			t.Errorf("RunDir(%q) = %q, want %q", tt.id, got, wantRun)
		}
		if got := s.StepDir(tt.id, tt.step); got != wantStep {
			t.Errorf("StepDir(%q, %q) = %q, want %q", tt.id, tt.step, got, wantStep)
		}
		want := filepath.Join(wantStep, tt.name)
		if tt.step == "" {
			want = filepath.Join(wantRun, tt.name)
		}
		if got := s.Locate(tt.id, tt.step, tt.name); got != want {
			t.Errorf("Locate(%q, %q, %q) = %q, want %q", tt.id, tt.step, tt.name, got, want)
		}
	}
}
