package filestore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// deleteAndDie deletes run id and kills its own process, the way SIGKILL
// does, at the named point of the delete.
func deleteAndDie(home, id, point string) error {
	CrashHook = func(p, _ string) {
		if p == point {
			self, _ := os.FindProcess(os.Getpid())
			_ = self.Kill()
			time.Sleep(time.Hour)
		}
	}
	s := New(home)
	ctx := context.Background()
	l, err := s.Acquire(ctx, id, runstore.Holder{Host: "child"}, 0)
	if err != nil {
		return err
	}
	return s.Delete(ctx, l)
}

// A delete killed part-way leaves the run whole (before its directory is
// renamed away) or nothing readable (after): never a run that a listing
// reports as damaged, and what it left is swept by the next listing.
func TestDeleteKilledPartWay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, tc := range []struct {
		point string
		gone  bool
	}{
		{"delete:begin", false},
		{"delete:renamed", true},
	} {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			s := New(home)
			ctx := context.Background()
			m := &runstore.RunMeta{Run: runstore.Run{ID: "kr-deleted0", Flow: "f", Status: runstore.RunCompleted, StartedAt: time.Now().UTC()},
				Plan: []runstore.PlanStep{{ID: "a", Kind: flowspec.KindCheckpoint}}}
			l, err := s.Create(ctx, m, []byte("name: f\n"), runstore.Holder{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: "x"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Release(ctx, l); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=delete", "KITARU_HOME="+home, "KITARU_TEST_RUN="+m.ID, "KITARU_TEST_POINT="+tc.point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Exited() {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}

			fresh := New(home) // a later command
			page, err := fresh.Query(ctx, runstore.Query{})
			if err != nil {
				t.Fatalf("Query after a killed delete: %v", err)
			}
			if ok, _ := fresh.Exists(ctx, m.ID); ok == tc.gone {
				t.Fatalf("Exists = %v after a delete killed at %s", ok, tc.point)
			}
			if tc.gone {
				if len(page.Runs) != 0 {
					t.Fatalf("a run deleted before the kill is listed: %v", page.Runs)
				}
				ents, _ := os.ReadDir(filepath.Join(home, "runs"))
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), deletingPrefix) {
						t.Errorf("the listing left %s behind", e.Name())
					}
				}
				return
			}
			if len(page.Runs) != 1 {
				t.Fatalf("the run is not listed whole: %v", page.Runs)
			}
			if r, err := fresh.LoadStep(ctx, m.ID, "a"); err != nil || r == nil || r.Output != "x" {
				t.Fatalf("step a after a killed delete = %v, %v", r, err)
			}
			// And it can be deleted again: the dead process's lock is free.
			l, err = fresh.Acquire(ctx, m.ID, runstore.Holder{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.Delete(ctx, l); err != nil {
				t.Fatal(err)
			}
		})
	}
}
