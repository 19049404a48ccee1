package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	if !validID(id) {
		return 0
	}
	p := filepath.Join(s.RunDir(id), "run.json")
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	// A big run's run.json is mostly its index, and a replay would
	// otherwise decode its source's twice more for this one number.
	seen := fileSeen{size: fi.Size(), mod: fi.ModTime()}
	s.mu.Lock()
	r, ok := s.revs[id]
	s.mu.Unlock()
	if ok && r.seen == seen {
		return r.rev
	}
	var m struct {
		FlowRev int `json:"flow_rev"`
	}
	if problem, err := readJSON(p, &m); err != nil || problem != "" {
		return 0
	}
	s.mu.Lock()
	s.revs[id] = flowRevSeen{seen: seen, rev: m.FlowRev}
	s.mu.Unlock()
	return m.FlowRev
}

// flowRevSeen is the revision a run.json of that size and time named.
type flowRevSeen struct {
	seen fileSeen
	rev  int
}

type fileSeen struct {
	size int64
	mod  time.Time
}

// ReplaceFlow writes the next revision's snapshot and plan, then run.json
// naming it.
func (s *Store) ReplaceFlow(ctx context.Context, meta *runstore.RunMeta, flowSource []byte) error {
	if err := s.exists(meta.ID); err != nil {
		return err
	}
	dir := s.RunDir(meta.ID)
	rev := meta.FlowRev
	s.mu.Lock()
	delete(s.revs, meta.ID) // its run.json is about to name the next
	s.mu.Unlock()
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
