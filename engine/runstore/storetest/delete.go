package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// testDelete: Delete needs the run's live lease and removes every record
// of the run, and nothing of another run; a stale lease deletes nothing.
func testDelete(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	keep := newMeta(t, s, "digest", t0)
	create(t, s, keep)
	m := newMeta(t, s, "digest", t0.Add(time.Minute))
	l, err := s.Create(ctx, m, []byte("name: digest\n"), me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	item := 0
	for what, err := range map[string]error{
		"SaveStep":      s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "a", Kind: flowspec.KindCheckpoint, Status: runstore.StepCompleted, Output: "x"}),
		"SaveItem":      s.SaveItem(ctx, m.ID, "b", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}),
		"SaveTurn":      s.SaveTurn(ctx, m.ID, "b", &runstore.TurnRecord{Item: &item, Turn: 1, Key: "k"}),
		"WriteArtifact": s.WriteArtifact(ctx, m.ID, "a", "prompt.json", []byte("{}")),
		"AppendEvents":  s.AppendEvents(ctx, m.ID, runstore.Event{Type: runstore.EventRunStarted}),
		"AppendLog":     s.AppendLog(ctx, m.ID, runstore.LogLine{Text: "x"}),
		"SaveKept":      s.SaveStep(ctx, keep.ID, &runstore.StepResult{ID: "a", Kind: flowspec.KindCheckpoint, Status: runstore.StepCompleted, Output: "kept"}),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A lease that is no longer the run's deletes nothing.
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, l); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Delete with a released lease = %v, want ErrLeaseLost", err)
	}
	if ok, err := s.Exists(ctx, m.ID); !ok || err != nil {
		t.Fatalf("after a refused Delete, Exists = %v, %v", ok, err)
	}

	l, err = s.Acquire(ctx, m.ID, me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, l); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := s.Exists(ctx, m.ID); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v; want false", ok, err)
	}
	if _, err := s.LoadMeta(ctx, m.ID); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("LoadMeta after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.LoadSummary(ctx, m.ID); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("LoadSummary after Delete = %v, want ErrNotFound", err)
	}
	if r, err := s.LoadStep(ctx, m.ID, "a"); r != nil || (err != nil && !errors.Is(err, runstore.ErrNotFound)) {
		t.Errorf("LoadStep after Delete = %v, %v; want no record", r, err)
	}
	if _, _, err := s.Events(ctx, m.ID, 0, 0); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Events after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Acquire(ctx, m.ID, me, time.Minute); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Acquire after Delete = %v, want ErrNotFound", err)
	}
	if _, err := runstore.Resolve(ctx, s, m.ID); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Resolve after Delete = %v, want ErrNotFound", err)
	}
	if err := s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("SaveStep after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, l); err == nil {
		t.Errorf("Delete twice succeeded")
	}
	page, err := s.Query(ctx, runstore.Query{})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].ID != keep.ID {
		t.Fatalf("Query after Delete = %v, %v; want only %s", page.Runs, err, keep.ID)
	}
	if r, err := s.LoadStep(ctx, keep.ID, "a"); err != nil || r == nil || r.Output != "kept" {
		t.Fatalf("the other run's step after Delete = %v, %v", r, err)
	}

	// A run whose lease another holder took since is not deleted.
	l1, err := s.Acquire(ctx, keep.ID, me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Release(ctx, l1)
	l2, err := s.Acquire(ctx, keep.ID, runstore.Holder{Host: "other", PID: me.PID}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(ctx, l2)
	if err := s.Delete(ctx, l1); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Delete with a lease another holder took over = %v, want ErrLeaseLost", err)
	}
	if ok, _ := s.Exists(ctx, keep.ID); !ok {
		t.Fatalf("a stale lease deleted the run")
	}
}
