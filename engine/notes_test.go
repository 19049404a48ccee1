package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// Beside a store that keeps no files, the process notes of a run's
// commands leave no directories behind once the run is over.
func TestProcessNotesLeaveNoDirectories(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	notes := t.TempDir()
	wd, _ := os.Getwd()
	te.store = memstore.New()
	te.eng = New(Config{Store: te.store, ProcessNotes: filestore.ProcessNotes(notes), Models: te.models, WorkDir: wd})
	run := te.start(te.flow("name: noted\nsteps:\n  a:\n    kind: checkpoint\n    run: echo one\n  b:\n    kind: checkpoint\n    needs: [a]\n    run: echo two\n"), nil)
	wantStatus(t, run, RunCompleted)
	var left []string
	err := filepath.WalkDir(notes, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(notes, p); rel != "." && rel != "runs" {
			left = append(left, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("the notes' directory holds %v after the run, want nothing", left)
	}
}
