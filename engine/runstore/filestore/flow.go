package filestore

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// The flow snapshot and plan of a run whose flow `kitaru retry --flow`
// replaced FlowRev times are flow.<rev>.yaml and plan.<rev>.json: new
// names, written whole before run.json (the one file that names the
// revision) is replaced. A crash before that leaves the old revision in
// force and the new files unused (the next try writes them again); after
// it, the new. Earlier revisions are kept: readers that read run.json just
// before still find the files it named, and they tell what the steps kept
// from before the edit ran.

// snapshotNames are the names of the flow snapshot and plan of revision rev.
func snapshotNames(rev int) (flow, plan string) {
	if rev <= 0 {
		return "flow.yaml", "plan.json"
	}
	return fmt.Sprintf("flow.%d.yaml", rev), fmt.Sprintf("plan.%d.json", rev)
}

// flowRev is the revision run.json names; 0 when it cannot be read (the
// snapshot read then says what is wrong, or the meta's own read does).
func (s *Store) flowRev(ctx context.Context, id string) int {
	m, err := s.LoadSummary(ctx, id)
	if err != nil {
		return 0
	}
	return m.FlowRev
}

// ReplaceFlow writes the next revision's snapshot and plan, then run.json
// naming it.
func (s *Store) ReplaceFlow(ctx context.Context, meta *runstore.RunMeta, flowSource []byte) error {
	if err := s.exists(meta.ID); err != nil {
		return err
	}
	dir := s.RunDir(meta.ID)
	rev := meta.FlowRev
	flowName, planName := snapshotNames(rev + 1)
	pp := filepath.Join(dir, planName)
	data, err := encodeJSON(pp, planFileOf(meta), len(meta.Plan) <= 50)
	if err != nil {
		return err
	}
	if err := fsutil.ReplaceFileSynced(pp, data); err != nil {
		return err
	}
	if err := fsutil.ReplaceFileSynced(filepath.Join(dir, flowName), flowSource); err != nil {
		return err
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return err
	}
	hook("flow:written", dir)
	meta.FlowRev = rev + 1
	if data, err = s.metaJSON(meta); err == nil {
		err = fsutil.WriteFileAtomic(filepath.Join(dir, "run.json"), data)
	}
	if err != nil {
		meta.FlowRev = rev
		return err
	}
	hook("flow:replaced", dir)
	s.mu.Lock()
	s.plans[meta.ID] = ownSteps(meta)
	s.mu.Unlock()
	return nil
}
