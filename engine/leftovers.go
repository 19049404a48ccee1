package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// stopLeftovers stops what a dead kitaru left running of any step of a run
// that is ending without running again (cancelled while nobody held it):
// no resume will stop it. Each group stopped, or that cannot be, is said
// in the run's log and journal. Commands note their process groups beside
// the step's records, so only a store that keeps files has any.
func (e *Engine) stopLeftovers(ctx context.Context, meta *RunMeta) {
	loc, ok := e.store.(runstore.Locator)
	if !ok {
		return
	}
	dirs := map[string]string{}
	for _, ps := range meta.Plan {
		dirs[ps.ID] = loc.Locate(meta.ID, ps.ID, "")
	}
	for _, l := range executors.StopLeftovers(ctx, dirs) {
		now := time.Now().UTC()
		if l.Err != nil {
			_ = e.store.AppendLog(ctx, meta.ID, LogLine{Time: now, Step: l.Step, Item: l.Item, Text: fmt.Sprintf(
				"what was left running of it (process group %d, orphaned when the kitaru running it died) %v; stop it with kill -- -%d", l.PGID, l.Err, l.PGID)})
			continue
		}
		_ = e.store.AppendLog(ctx, meta.ID, LogLine{Time: now, Step: l.Step, Item: l.Item, Text: fmt.Sprintf(
			"stopped what was left running of it as the run was cancelled: process group %d (%d processes), orphaned when the kitaru running it died", l.PGID, l.N)})
		_ = e.store.AppendEvents(ctx, meta.ID, Event{Time: now, Type: EventLeftoverStopped, RunID: meta.ID, Step: l.Step, Item: l.Item, PGID: l.PGID})
	}
}
