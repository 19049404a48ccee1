package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Removing runs. A replay keeps the steps it reused as references to the
// records of the run that holds them (RunMeta.Reused), so a run whose
// records a kept run reuses is never removed: Delete refuses it and names
// the runs that reuse it, Prune keeps it and says why. Runs that reuse one
// another go together, the reusing ones first, so that a crash part-way
// leaves no kept run pointing at a removed one.
//
// What a replay started while runs are removed reads is not locked: one
// started from a run in the very moment it is removed fails to read it.

// Housekeeper removes runs. *Engine implements it.
type Housekeeper interface {
	// Delete removes the runs refs name, or none of them: a run running
	// or waiting, or whose records a run not named reuses, is refused
	// (a *RefusedError names each and why).
	Delete(ctx context.Context, refs []string) (*Removal, error)
	// Prune removes the runs opts selects, keeping (and naming in Kept)
	// those running, waiting, or whose records a kept run reuses.
	Prune(ctx context.Context, opts PruneOptions) (*Removal, error)
}

var _ Housekeeper = (*Engine)(nil)

// PruneOptions select the runs Prune removes.
type PruneOptions struct {
	// Before: runs that ended before it (or started, if never ended).
	Before time.Time
	// Status: only runs with it ("": any). Waiting runs are pruned only
	// when it is RunWaiting; running ones never.
	Status RunStatus
	// DryRun: remove nothing, tell what would go.
	DryRun bool
}

// Removal is what Delete or Prune removed (or, in a dry run, would
// remove), in the order removed, and the runs kept.
type Removal struct {
	Removed []RemovedRun `json:"removed"`
	Kept    []KeptRun    `json:"kept"`
	DryRun  bool         `json:"dry_run,omitempty"`
}

// RemovedRun is a run removed. A damaged run has no flow or status.
type RemovedRun struct {
	ID        string    `json:"id"`
	Flow      string    `json:"flow,omitempty"`
	Status    RunStatus `json:"status,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Damaged   bool      `json:"damaged,omitempty"`
}

// KeepReason says why a run was not removed.
type KeepReason string

// Why a run stays.
const (
	KeepRunning KeepReason = "running" // a process runs it (Holder)
	KeepWaiting KeepReason = "waiting" // it waits for an answer
	KeepReused  KeepReason = "reused"  // By reuse its records
)

// KeptRun is a run not removed, and why.
type KeptRun struct {
	ID     string           `json:"id"`
	Why    KeepReason       `json:"why"`
	By     []string         `json:"reused_by,omitempty"`
	Holder *runstore.Holder `json:"holder,omitempty"`
}

// RefusedError is a Delete that removed nothing: Kept says which runs
// cannot go and why.
type RefusedError struct{ Kept []KeptRun }

func (e *RefusedError) Error() string {
	var parts []string
	for _, k := range e.Kept {
		switch k.Why {
		case KeepRunning:
			parts = append(parts, "run "+k.ID+" is running")
		case KeepWaiting:
			parts = append(parts, "run "+k.ID+" is waiting for input")
		case KeepReused:
			parts = append(parts, fmt.Sprintf("run %s holds records that %s reuse%s", k.ID, strings.Join(k.By, ", "), plural(len(k.By) == 1, "s", "")))
		}
	}
	return strings.Join(parts, "; ") + "; nothing was deleted"
}

func plural(one bool, a, b string) string {
	if one {
		return a
	}
	return b
}

// candidate is a run to remove: its summary (nil when damaged) and, once
// taken, its lease.
type candidate struct {
	id    string
	meta  *RunMeta
	lease *runstore.Lease
}

func (c *candidate) removed() RemovedRun {
	if c.meta == nil {
		return RemovedRun{ID: c.id, Damaged: true}
	}
	st := c.meta.Status
	if st == RunRunning {
		// Recorded running, but nobody runs it, or it would not go: it
		// was interrupted (as liveStatus says).
		st = RunInterrupted
	}
	return RemovedRun{ID: c.id, Flow: c.meta.Flow, Status: st, StartedAt: c.meta.StartedAt}
}

// Delete removes the runs refs name, all or none (see Housekeeper).
func (e *Engine) Delete(ctx context.Context, refs []string) (*Removal, error) {
	if len(refs) == 0 {
		return nil, &UsageError{Err: runstore.ErrNoRef}
	}
	var ids []string
	seen := map[string]bool{}
	for _, ref := range refs {
		id, err := e.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	users, _, err := e.reusers(ctx)
	if err != nil {
		return nil, err
	}
	var cands []*candidate
	release := func() {
		for _, c := range cands {
			if c.lease != nil {
				_ = e.store.Release(context.Background(), c.lease)
			}
		}
	}
	// Every run is leased before any goes, so that none starts or waits
	// while the others are checked.
	var kept []KeptRun
	for _, id := range ids {
		c, k, err := e.take(ctx, id, false)
		if err != nil {
			release()
			return nil, err
		}
		if k != nil {
			kept = append(kept, *k)
			continue
		}
		cands = append(cands, c)
		if by := outside(users[id], seen); len(by) > 0 {
			kept = append(kept, KeptRun{ID: id, Why: KeepReused, By: by})
		}
	}
	if len(kept) > 0 {
		release()
		return nil, &RefusedError{Kept: kept}
	}
	out := &Removal{Removed: []RemovedRun{}, Kept: []KeptRun{}}
	order := reusersFirst(cands, users)
	for i, c := range order {
		if err := e.store.Delete(ctx, c.lease); err != nil {
			for _, rest := range order[i:] {
				_ = e.store.Release(context.Background(), rest.lease)
			}
			return out, fmt.Errorf("cannot delete run %s: %w", c.id, err)
		}
		out.Removed = append(out.Removed, c.removed())
	}
	return out, nil
}

// take leases run id for removal and reads its summary. A run that may
// not go is returned as kept (its lease not held); a damaged run may go.
func (e *Engine) take(ctx context.Context, id string, waitingToo bool) (*candidate, *KeptRun, error) {
	l, err := e.store.Acquire(ctx, id, e.cfg.Holder, e.leaseTTL())
	var he *HeldError
	if errors.As(err, &he) {
		h := he.Holder
		return nil, &KeptRun{ID: id, Why: KeepRunning, Holder: &h}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	c := &candidate{id: id, lease: l}
	m, err := e.store.LoadSummary(ctx, id)
	var de *DamagedError
	switch {
	case errors.As(err, &de):
	case err != nil:
		_ = e.store.Release(context.Background(), l)
		return nil, nil, err
	case m.Status == RunWaiting && !waitingToo:
		_ = e.store.Release(context.Background(), l)
		return nil, &KeptRun{ID: id, Why: KeepWaiting}, nil
	default:
		c.meta = m
	}
	return c, nil, nil
}

// reusers maps each run to the runs that reuse its step records (sorted),
// and gives the summaries of the runs it could read.
func (e *Engine) reusers(ctx context.Context) (map[string][]string, []*RunMeta, error) {
	if e.err != nil {
		return nil, nil, e.err
	}
	page, err := e.store.Query(ctx, runstore.Query{})
	var damaged DamagedRuns
	if err != nil && !errors.As(err, &damaged) {
		return nil, nil, err
	}
	users := map[string][]string{}
	for _, m := range page.Runs {
		if m.ReplayOf == nil {
			continue // only a replay reuses
		}
		full, err := e.store.LoadMeta(ctx, m.ID)
		if err != nil {
			continue // a run that cannot be read cannot be replayed or shown either
		}
		homes := map[string]bool{}
		for _, g := range full.Reused {
			if g.Run != m.ID && !homes[g.Run] {
				homes[g.Run] = true
				users[g.Run] = append(users[g.Run], m.ID)
			}
		}
	}
	for _, u := range users {
		sort.Strings(u)
	}
	return users, page.Runs, nil
}

// outside are the runs of users not in set.
func outside(users []string, set map[string]bool) []string {
	var out []string
	for _, u := range users {
		if !set[u] {
			out = append(out, u)
		}
	}
	return out
}

// reusersFirst orders cands so that a run comes after every candidate
// that reuses its records.
func reusersFirst(cands []*candidate, users map[string][]string) []*candidate {
	left := map[string]bool{}
	for _, c := range cands {
		left[c.id] = true
	}
	out := make([]*candidate, 0, len(cands))
	for len(out) < len(cands) {
		n := len(out)
		for _, c := range cands {
			if left[c.id] && len(inSet(users[c.id], left)) == 0 {
				out = append(out, c)
			}
		}
		for _, c := range out[n:] {
			delete(left, c.id)
		}
		if len(out) == n { // a cycle, which no replay makes: any order
			for _, c := range cands {
				if left[c.id] {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// inSet are the runs of users in set.
func inSet(users []string, set map[string]bool) []string {
	var out []string
	for _, u := range users {
		if set[u] {
			out = append(out, u)
		}
	}
	return out
}

// lastActive is when a run ended, or started if it has not (yet) ended.
func lastActive(m *RunMeta) time.Time {
	t := m.StartedAt
	if m.EndedAt != nil && m.EndedAt.After(t) {
		t = *m.EndedAt
	}
	return t
}

// Prune removes the runs opts selects (see Housekeeper).
func (e *Engine) Prune(ctx context.Context, opts PruneOptions) (*Removal, error) {
	users, metas, err := e.reusers(ctx)
	if err != nil {
		return nil, err
	}
	out := &Removal{Removed: []RemovedRun{}, Kept: []KeptRun{}, DryRun: opts.DryRun}
	chosen := map[string]bool{}
	var cands []*candidate
	for _, m := range metas {
		if !lastActive(m).Before(opts.Before) {
			continue
		}
		st := e.liveStatus(ctx, m)
		if opts.Status != "" && st != opts.Status {
			continue
		}
		switch {
		case st == RunRunning:
			h, _ := e.holder(ctx, m.ID)
			out.Kept = append(out.Kept, KeptRun{ID: m.ID, Why: KeepRunning, Holder: h})
			continue
		case st == RunWaiting && opts.Status != RunWaiting:
			out.Kept = append(out.Kept, KeptRun{ID: m.ID, Why: KeepWaiting})
			continue
		}
		chosen[m.ID] = true
		cands = append(cands, &candidate{id: m.ID, meta: m})
	}
	// A run kept keeps the runs whose records it reuses, and so on down.
	for changed := true; changed; {
		changed = false
		for _, c := range cands {
			if !chosen[c.id] {
				continue
			}
			if by := outside(users[c.id], chosen); len(by) > 0 {
				delete(chosen, c.id)
				out.Kept = append(out.Kept, KeptRun{ID: c.id, Why: KeepReused, By: by})
				changed = true
			}
		}
	}
	var doomed []*candidate
	for _, c := range cands {
		if chosen[c.id] {
			doomed = append(doomed, c)
		}
	}
	gone := map[string]bool{}
	for _, c := range reusersFirst(doomed, users) {
		if opts.DryRun {
			out.Removed = append(out.Removed, c.removed())
			continue
		}
		// Checked again now, under the run's lease: it may have been
		// resumed since, and a run that reuses it may have been kept.
		if by := outside(users[c.id], gone); len(by) > 0 {
			out.Kept = append(out.Kept, KeptRun{ID: c.id, Why: KeepReused, By: by})
			continue
		}
		taken, k, err := e.take(ctx, c.id, opts.Status == RunWaiting)
		if err != nil {
			return out, err
		}
		if k != nil {
			out.Kept = append(out.Kept, *k)
			continue
		}
		if err := e.store.Delete(ctx, taken.lease); err != nil {
			return out, fmt.Errorf("cannot delete run %s: %w", c.id, err)
		}
		gone[c.id] = true
		out.Removed = append(out.Removed, c.removed())
	}
	return out, nil
}
