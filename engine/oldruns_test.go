package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
)

// olderKitaru is an engine over a copy of testdata/filestore, run
// directories the kitaru before the store's second edition wrote (see
// filestore's oldRuns).
func olderKitaru(t *testing.T) *testEnv {
	t.Helper()
	home := t.TempDir()
	if err := os.CopyFS(home, os.DirFS(filepath.Join("..", "testdata", "filestore"))); err != nil {
		t.Fatal(err)
	}
	return newEnvOver(t, filestore.New(home), home)
}

// A replay of an older kitaru's runs reuses what they finished: a wait it
// answered with `input --no-resume` (its index still says waiting) is not
// asked again, and the finished items of a foreach step it was killed in
// (keyless records, no step record) are reused by position.
func TestReplayOfAnOlderKitarusRuns(t *testing.T) {
	t.Parallel()
	t.Run("answered with --no-resume", func(t *testing.T) {
		t.Parallel()
		te := olderKitaru(t)
		run, err := te.eng.Replay(t.Context(), ReplayOptions{Source: "kr-i93oejbv"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, run, RunWaiting)
		if a := step(t, run, "approval"); !a.Reused || a.Output != true {
			t.Errorf("approval: reused %v, output %v, status %s; want the recorded answer true reused", a.Reused, a.Output, a.Status)
		}
		if d := step(t, run, "details"); d.Status != StepWaiting {
			t.Errorf("details is %s; want it waiting, the next question", d.Status)
		}
	})
	t.Run("killed in a foreach step", func(t *testing.T) {
		t.Parallel()
		te := olderKitaru(t)
		run := te.completedReplay(ReplayOptions{Source: "kr-fc5nqak9"})
		s := step(t, run, "summarise")
		if len(s.Items) != 3 || !s.Items[0].Reused || !s.Items[1].Reused || s.Items[2].Reused {
			t.Fatalf("items %+v; want the first two reused, the third run", s.Items)
		}
		if run.Output != "about checkpoints\nabout replay\nabout human approval" {
			t.Errorf("output %q", run.Output)
		}
		// An edited flow may read its items otherwise: not trusted by
		// position.
		src, err := te.eng.loadFlow(t.Context(), &RunMeta{Run: Run{ID: "kr-fc5nqak9", Flow: "fan_slow"}})
		if err != nil {
			t.Fatal(err)
		}
		run = te.completedReplay(ReplayOptions{Source: "kr-fc5nqak9", Flow: src})
		for i, it := range step(t, run, "summarise").Items {
			if it.Reused {
				t.Errorf("item %d reused from an older kitaru's keyless record with a flow given", i)
			}
		}
	})
}
