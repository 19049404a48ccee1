package filestore

import (
	"context"
	"os"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A replay records only the steps it runs, so only theirs get directories:
// replaying the last step of a 1,000-step run makes one, not a thousand.
func TestStepDirectoriesOnlyForStepsOfTheRunsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, fresh := range []bool{true, false} { // created here, or by another process
		s := New(t.TempDir())
		m := &runstore.RunMeta{Run: runstore.Run{ID: "kr-replay01", Status: runstore.RunRunning},
			Plan:   []runstore.PlanStep{{ID: "a"}, {ID: "b"}, {ID: "c"}},
			Reused: []runstore.ReusedGroup{{Run: "kr-source1", Status: runstore.StepCompleted, Steps: []string{"a", "b"}}}}
		l, err := s.Create(ctx, m, []byte("name: x\n"), runstore.Holder{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Release(ctx, l)
		if !fresh {
			s = New(s.root[:len(s.root)-len("/runs")])
		}
		if err := s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "c", Status: runstore.StepCompleted}); err != nil {
			t.Fatal(err)
		}
		for step, want := range map[string]bool{"a": false, "b": false, "c": true} {
			if _, err := os.Stat(s.StepDir(m.ID, step)); (err == nil) != want {
				t.Errorf("fresh=%v: step %s has a directory: %v, want %v", fresh, step, err == nil, want)
			}
		}
	}
}
