package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// testReplaceFlow: each replacement of a run's flow (kitaru retry --flow)
// brings its snapshot, plan and meta together, and counts a revision.
func testReplaceFlow(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	for rev, tc := range []struct {
		src  string
		plan []runstore.PlanStep
	}{
		{"name: digest\n# two\n", []runstore.PlanStep{{ID: "a", Kind: flowspec.KindCheckpoint}, {ID: "c", Kind: flowspec.KindWait}}},
		{"name: digest\n# three\n", []runstore.PlanStep{{ID: "c", Kind: flowspec.KindWait}}},
	} {
		m.Plan = tc.plan
		m.Redo = map[string]runstore.Reason{"c": {Code: runstore.ReasonAddedStep}}
		if err := s.ReplaceFlow(ctx, m, []byte(tc.src)); err != nil {
			t.Fatalf("ReplaceFlow #%d: %v", rev+1, err)
		}
		if m.FlowRev != rev+1 {
			t.Errorf("after ReplaceFlow #%d the meta's FlowRev is %d", rev+1, m.FlowRev)
		}
		got, err := s.LoadMeta(ctx, m.ID)
		if err != nil {
			t.Fatalf("LoadMeta: %v", err)
		}
		if got.FlowRev != rev+1 || !reflect.DeepEqual(got.Plan, tc.plan) || got.Redo["c"].Code != runstore.ReasonAddedStep {
			t.Errorf("after ReplaceFlow #%d: rev %d, plan %v, redo %v", rev+1, got.FlowRev, got.Plan, got.Redo)
		}
		if src, err := s.FlowSource(ctx, m.ID); err != nil || string(src) != tc.src {
			t.Errorf("FlowSource after ReplaceFlow #%d = %q, %v", rev+1, src, err)
		}
	}
	gone := &runstore.RunMeta{Run: runstore.Run{ID: "kr-missing0", Status: runstore.RunFailed}, Plan: m.Plan}
	if err := s.ReplaceFlow(ctx, gone, []byte("name: x\n")); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("ReplaceFlow of a missing run: %v, want ErrNotFound", err)
	}
	if gone.FlowRev != 0 {
		t.Errorf("a failed ReplaceFlow left FlowRev %d", gone.FlowRev)
	}
}
