package filestore

import (
	"context"
	"os"
	"testing"
	"time"

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

// A named pipe put in place of a run's lock is refused at once, not waited
// on: waiting would hang every command that looks at the run.
func TestFIFOInPlaceOfTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t.TempDir())
	m := &runstore.RunMeta{Run: runstore.Run{ID: "kr-fifolock", Status: runstore.RunRunning}, Plan: []runstore.PlanStep{{ID: "a"}}}
	l, err := s.Create(ctx, m, []byte("name: x\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Release(ctx, l)
	p := s.Locate(m.ID, "", "lock")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(p); err != nil {
		t.Skip("no named pipes here:", err)
	}
	done := make(chan error, 2)
	go func() { _, err := s.Holder(ctx, m.ID); done <- err }()
	go func() { _, err := s.Acquire(ctx, m.ID, runstore.Holder{}, 0); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a named pipe as the lock was taken as a lock")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waited on a named pipe in place of the lock")
		}
	}
}
