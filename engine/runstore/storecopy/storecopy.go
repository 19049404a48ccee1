// Package storecopy copies runs from one run store into another through
// the runstore interfaces alone (a machine's file store into a team's
// database, say), keeping their ids so that the links between runs — a
// replay's reused steps, its source — hold in the copy.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Outcome is what became of one run.
type Outcome int

const (
	Copied  Outcome = iota
	Present         // the target had a run of that id already: left as it is
	Running         // someone holds the run's lease: its records are still changing
	Damaged         // its records cannot be read whole
)

// Result is one run's outcome; Err says why a run was not copied when that
// is a failure (Damaged, or a write to the target that failed).
type Result struct {
	ID      string
	Outcome Outcome
	Err     error
}

// Report is what a copy did, a run at a time, oldest first, and how many
// answers of the cache it copied.
type Report struct {
	Runs   []Result
	Cached int
}

// Count is how many runs had outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, x := range r.Runs {
		if x.Outcome == o && x.Err == nil {
			n++
		}
	}
	return n
}

// copyTTL is how long the copy's lease of a target run lasts: the copy
// does not renew it, and a copy that died leaves a run others can take.
const copyTTL = 10 * time.Minute

// Copy copies every run of from that to does not have. Each run is copied
// under both leases (so that nothing runs it meanwhile) and appears in to
// whole or not at all: a run whose copy fails part-way is removed from to
// again. A run that cannot be copied is reported and the others go on;
// the error is the source's or target's failure that stopped the copy.
func Copy(ctx context.Context, from, to runstore.Store, holder runstore.Holder) (*Report, error) {
	var sums []*runstore.RunMeta
	rep := &Report{}
	q := runstore.Query{Limit: 500}
	for {
		page, err := from.Query(ctx, q)
		var damaged runstore.DamagedRuns
		if errors.As(err, &damaged) {
			for _, d := range damaged {
				rep.Runs = append(rep.Runs, Result{ID: d.RunID, Outcome: Damaged, Err: d})
			}
		} else if err != nil {
			return rep, fmt.Errorf("listing the runs to copy: %w", err)
		}
		sums = append(sums, page.Runs...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	// Oldest first: a replay's source is in the target before the replay.
	sort.SliceStable(sums, func(i, j int) bool { return sums[i].StartedAt.Before(sums[j].StartedAt) })
	for _, s := range sums {
		res, err := copyRun(ctx, from, to, s.ID, holder)
		rep.Runs = append(rep.Runs, res)
		if err != nil {
			return rep, err
		}
	}
	return rep, copyCache(ctx, from, to, rep)
}

// copyCache copies the answers of from's cache (an llm step's cache:)
// that to lacks or holds only from before: a team shares its cache as it
// shares its runs. A store that cannot list its cache has none to copy.
func copyCache(ctx context.Context, from, to runstore.Store, rep *Report) error {
	l, ok := from.(runstore.CacheLister)
	if !ok {
		return nil
	}
	var werr error
	err := l.EachCached(ctx, func(key string, e *runstore.CacheEntry) error {
		have, err := to.GetCached(ctx, key, e.At)
		if err == nil && have == nil {
			err = to.PutCached(ctx, key, e)
			if err == nil {
				rep.Cached++
			}
		}
		werr = err
		return err
	})
	switch {
	case werr != nil:
		return fmt.Errorf("copying the cache of answers: %w", werr)
	case err != nil:
		return fmt.Errorf("reading the cache of answers to copy: %w", err)
	}
	return nil
}

// copyRun copies run id; its error stops the whole copy (a store out of
// reach), while a run that alone cannot be copied is only its Result.
func copyRun(ctx context.Context, from, to runstore.Store, id string, holder runstore.Holder) (Result, error) {
	res := Result{ID: id}
	if ok, err := to.Exists(ctx, id); err != nil {
		return res, fmt.Errorf("looking for run %s in the target: %w", id, err)
	} else if ok {
		res.Outcome = Present
		return res, nil
	}
	src, err := from.Acquire(ctx, id, holder, copyTTL)
	var held *runstore.HeldError
	if errors.As(err, &held) {
		res.Outcome = Running
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("taking run %s to copy it: %w", id, err)
	}
	defer from.Release(context.WithoutCancel(ctx), src)

	r, err := read(ctx, from, id)
	if err != nil {
		var dmg *runstore.DamagedError
		if errors.As(err, &dmg) || errors.Is(err, runstore.ErrNotFound) {
			res.Outcome, res.Err = Damaged, err
			return res, nil
		}
		return res, err
	}
	// Made as a run being run, its real meta written last: a copy cut
	// short that cannot be taken back reads as interrupted, never as
	// the run it is a part of.
	started := *r.meta
	started.Status = runstore.RunRunning
	l, err := to.Create(ctx, &started, r.flow, holder, copyTTL)
	if err != nil {
		return res, fmt.Errorf("creating run %s in the target: %w", id, err)
	}
	if err := r.write(ctx, to); err != nil {
		// Whole or not at all: take back what was written.
		if derr := to.Delete(context.WithoutCancel(ctx), l); derr != nil {
			_ = to.Release(context.WithoutCancel(ctx), l) // nobody runs the part
			return res, &PartialError{ID: id, Err: err, DeleteErr: derr}
		}
		return res, fmt.Errorf("copying run %s: %w", id, err)
	}
	if err := to.Release(ctx, l); err != nil {
		return res, fmt.Errorf("copying run %s: %w", id, err)
	}
	res.Outcome = Copied
	return res, nil
}

// run is everything of one run, read from the source.
type run struct {
	meta      *runstore.RunMeta
	flow      []byte
	steps     map[string]*runstore.StepResult
	items     map[string]map[int]*runstore.ItemResult
	turns     []stepTurns
	artifacts []artifact
	events    []runstore.Event
	logs      []runstore.LogLine
}

type stepTurns struct {
	step  string
	turns []*runstore.TurnRecord
}

type artifact struct {
	step, name string
	data       []byte
}

func read(ctx context.Context, st runstore.Store, id string) (*run, error) {
	r := &run{items: map[string]map[int]*runstore.ItemResult{}}
	var err error
	if r.meta, err = st.LoadMeta(ctx, id); err != nil {
		return nil, err
	}
	if r.flow, err = st.FlowSource(ctx, id); err != nil {
		return nil, err
	}
	if r.steps, err = st.LoadSteps(ctx, id); err != nil {
		return nil, err
	}
	for _, ps := range r.meta.Plan {
		step := ps.ID
		items, err := st.LoadItems(ctx, id, step)
		if err != nil {
			return nil, err
		}
		if len(items) > 0 {
			r.items[step] = items
		}
		turns, err := st.LoadTurns(ctx, id, step, nil)
		if err != nil {
			return nil, err
		}
		for i := range items {
			it, err := st.LoadTurns(ctx, id, step, &i)
			if err != nil {
				return nil, err
			}
			turns = append(turns, it...)
		}
		if len(turns) > 0 {
			r.turns = append(r.turns, stepTurns{step, turns})
		}
		names, err := st.Artifacts(ctx, id, step)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			data, err := st.ReadArtifact(ctx, id, step, name)
			if err != nil {
				return nil, err
			}
			r.artifacts = append(r.artifacts, artifact{step, name, data})
		}
	}
	evs, _, err := st.Events(ctx, id, 0, 0)
	if err != nil {
		return nil, err
	}
	r.events = evs
	if r.logs, err = st.Logs(ctx, id, 0); err != nil {
		return nil, err
	}
	return r, nil
}

// records are the run's records for a RecordWriter, in batches of at
// most batchRecords records or batchBytes bytes of artifacts (one more
// when a single artifact is bigger).
func (r *run) records() [][]runstore.Record {
	const batchRecords, batchBytes = 500, 4 << 20
	var out [][]runstore.Record
	var cur []runstore.Record
	size := 0
	add := func(rec runstore.Record) {
		if len(cur) == batchRecords || len(cur) > 0 && size+len(rec.Data) > batchBytes {
			out, cur, size = append(out, cur), nil, 0
		}
		cur, size = append(cur, rec), size+len(rec.Data)
	}
	for _, s := range r.steps {
		add(runstore.Record{Step: s.ID, Result: s})
	}
	for step, items := range r.items {
		for _, it := range items {
			add(runstore.Record{Step: step, Item: it})
		}
	}
	for _, t := range r.turns {
		for _, rec := range t.turns {
			add(runstore.Record{Step: t.step, Turn: rec})
		}
	}
	for _, a := range r.artifacts {
		add(runstore.Record{Step: a.step, Artifact: a.name, Data: a.data})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (r *run) write(ctx context.Context, st runstore.Store) error {
	id := r.meta.ID
	if w, ok := st.(runstore.RecordWriter); ok {
		// A database writes a batch in a few round trips, not one each.
		for _, recs := range r.records() {
			if err := w.SaveRecords(ctx, id, recs); err != nil {
				return err
			}
		}
		return r.writeJournals(ctx, st)
	}
	for _, s := range r.steps {
		if err := st.SaveStep(ctx, id, s); err != nil {
			return err
		}
	}
	for step, items := range r.items {
		for _, it := range items {
			if err := st.SaveItem(ctx, id, step, it); err != nil {
				return err
			}
		}
	}
	for _, t := range r.turns {
		for _, rec := range t.turns {
			if err := st.SaveTurn(ctx, id, t.step, rec); err != nil {
				return err
			}
		}
	}
	for _, a := range r.artifacts {
		if err := st.WriteArtifact(ctx, id, a.step, a.name, a.data); err != nil {
			return err
		}
	}
	return r.writeJournals(ctx, st)
}

// writeJournals writes the run's events and log, then its meta.
func (r *run) writeJournals(ctx context.Context, st runstore.Store) error {
	id := r.meta.ID
	const batch = 500
	for i := 0; i < len(r.events); i += batch {
		if err := st.AppendEvents(ctx, id, r.events[i:min(i+batch, len(r.events))]...); err != nil {
			return err
		}
	}
	for i := 0; i < len(r.logs); i += batch {
		if err := st.AppendLog(ctx, id, r.logs[i:min(i+batch, len(r.logs))]...); err != nil {
			return err
		}
	}
	// The meta last, whole (Create may have kept only what a new run has).
	return st.SaveMeta(ctx, r.meta)
}

// PartialError is a run whose copy failed and could not be taken back
// (the target went out of reach): the target holds part of it, which
// reads as interrupted until it is deleted there.
type PartialError struct {
	ID        string
	Err       error // why the copy failed
	DeleteErr error // why removing the part failed
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("copying run %s: %v (and removing its partial copy failed: %v)", e.ID, e.Err, e.DeleteErr)
}

func (e *PartialError) Unwrap() error { return e.Err }
