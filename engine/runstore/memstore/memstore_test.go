package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) runstore.Store { return New() })
}

// A lease not renewed in time is free for another holder, and its first
// holder learns it has lost it.
func TestLeaseExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	id, _ := s.NewID(ctx)
	l, err := s.Create(ctx, &runstore.RunMeta{Run: runstore.Run{ID: id, Status: runstore.RunRunning}}, []byte("x"), runstore.Holder{PID: 1}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(9 * time.Second)
	if err := s.Renew(ctx, l); err != nil {
		t.Fatalf("Renew in time: %v", err)
	}
	now = now.Add(9 * time.Second) // 18s after creation, 9s after renewal
	if _, err := s.Acquire(ctx, id, runstore.Holder{PID: 2}, time.Second); err == nil {
		t.Fatal("a renewed lease was taken over")
	}
	now = now.Add(2 * time.Second)
	l2, err := s.Acquire(ctx, id, runstore.Holder{PID: 2}, time.Second)
	if err != nil {
		t.Fatalf("Acquire of an expired lease: %v", err)
	}
	if err := s.Renew(ctx, l); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Renew of the expired lease = %v, want ErrLeaseLost", err)
	}
	if h, _ := s.Holder(ctx, id); h == nil || h.PID != 2 {
		t.Fatalf("Holder = %v, want pid 2", h)
	}
	_ = s.Release(ctx, l2)
}
