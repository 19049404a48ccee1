package engine

import (
	"context"
	"time"
)

// ended says whether a run in this status has stopped for good (a waiting
// or interrupted run goes on when it is answered or resumed).
func ended(s RunStatus) bool {
	return s == RunCompleted || s == RunFailed || s == RunCancelled
}

// runEnd is how a go at a run stopped: its status, its ending and the
// error underneath, if there is one.
type runEnd struct {
	status RunStatus
	ending *Ending
	err    *string
}

// markEnd writes into meta how a go at the run stopped: its status, ending
// and error, when, the index of the steps recorded in its directory (what a
// replay reads instead of every record) and its usage totals from rec.
// The run loop and settle both use it, so a run ended either way reads the
// same.
func markEnd(meta *RunMeta, end runEnd, now time.Time, idx map[string]IndexEntry, rec *Run) {
	meta.Status, meta.Ending, meta.Error = end.status, end.ending, end.err
	meta.EndedAt = &now
	meta.Index = idx
	meta.Usage, meta.CostUSD = rec.Usage, rec.CostUSD
}

// settle records a change made to a run outside its run loop, which the
// caller holds the lock of: an answer (the run stays waiting), an abort, an
// expired wait, a cancel of a run nobody runs. Like the end of the loop it
// saves the meta with the status, ending and error, ended_at, the index rebuilt
// from the run's step records, and the usage totals; a run that ended is
// journaled as finished. It returns the run's record.
func (e *Engine) settle(ctx context.Context, meta *RunMeta, end runEnd) (*Run, error) {
	// Written whole even if the caller is interrupted meanwhile: a step
	// answered but a run still waiting for it would be asked again.
	ctx = context.WithoutCancel(ctx)
	recs, damaged := e.store.LoadSteps(ctx, meta.ID)
	// The index holds only records that read: a damaged one has no entry,
	// so a replay runs that step again.
	idx := make(map[string]IndexEntry, len(recs))
	for id, r := range recs {
		idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint}
	}
	now := time.Now().UTC()
	endedAt := meta.EndedAt
	meta.Status = end.status
	rec, err := e.assembleFrom(ctx, meta, recs, damaged)
	if err != nil {
		return nil, err
	}
	markEnd(meta, end, now, idx, rec)
	if !ended(end.status) {
		// Still waiting (or interrupted): when the last go at it stopped
		// is unchanged.
		meta.EndedAt = endedAt
	}
	rec.Ending, rec.Error, rec.EndedAt = meta.Ending, meta.Error, meta.EndedAt
	if err := e.store.SaveMeta(ctx, meta); err != nil {
		return nil, err
	}
	if ended(end.status) {
		slim := meta.Run
		slim.Steps = nil
		ev := Event{Time: now, Type: EventRunFinished, RunID: meta.ID, Run: &slim}
		if end.err != nil {
			ev.Error = *end.err
		}
		_ = e.store.AppendEvents(ctx, meta.ID, ev)
		e.bus.publish(ev)
	}
	return rec, nil
}
