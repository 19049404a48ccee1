package memstore

import (
	"context"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// ReplaceFlow swaps the run's snapshot, plan and meta under one lock.
func (s *Store) ReplaceFlow(ctx context.Context, meta *runstore.RunMeta, flowSource []byte) error {
	rev := meta.FlowRev
	meta.FlowRev++
	meta.UpdatedAt = s.Now().UTC()
	m := *meta
	m.Steps, m.Plan, m.Reused, m.Dir = nil, nil, nil, ""
	mb, err := encode(&m)
	if err == nil {
		var pb []byte
		if pb, err = encode(&planRecord{Plan: meta.Plan, Reused: meta.Reused}); err == nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			var r *run
			if r, err = s.get(meta.ID); err == nil {
				r.meta, r.plan, r.flow = mb, pb, append([]byte(nil), flowSource...)
				return nil
			}
		}
	}
	meta.FlowRev = rev
	return err
}
