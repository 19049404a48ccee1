package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// WithFlow continues a run, in place, against f, an edited version of its
// flow (kitaru retry --flow): the run's flow snapshot becomes f, and the
// steps the edit changed or added run with their descendants (see
// retryEdited). Only Retry takes it.
func WithFlow(f *flowspec.Flow) ContinueOption {
	return func(c *continueConfig) { c.flow = f }
}

// retryEdited is Retry against an edited flow. The run keeps its id and
// inputs. Failed steps run again as in any retry; recorded steps whose
// fingerprint the edit changed run again with their descendants, and steps
// it adds run; the other recorded steps are kept. Steps it removes leave
// the run's plan (their records stay in its directory, unread).
//
// The edited flow, its plan, the meta and the steps to redo (Redo) are
// recorded in one write (Store.ReplaceFlow) before any record goes: a
// crash leaves the old flow, or the new one with its redo list, which the
// next go at the run (resume, retry) carries out first (forgetRedo).
func (e *Engine) retryEdited(ctx context.Context, meta *RunMeta, old, f *flowspec.Flow, parallel int, opts []ContinueOption) (*Run, error) {
	if f.Name != meta.Flow {
		return nil, &UsageError{Err: fmt.Errorf("%s is flow %q, but run %s is of flow %q; --flow takes the run's own flow, edited (another flow is a new run: kitaru run %s)",
			flowName(f), f.Name, meta.ID, meta.Flow, flowName(f))}
	}
	inputs, err := editedInputs(meta, f)
	if err != nil {
		return nil, err
	}
	recs, err := e.store.LoadSteps(ctx, meta.ID)
	if err != nil {
		return nil, err
	}
	g := newGraph(f)
	fps := fingerprints(f, g, inputs, nil)
	status, recFP, err := e.editedBase(ctx, meta, g, recs)
	if err != nil {
		return nil, err
	}
	// What any retry runs again is decided by the edited flow (its
	// continue_on_error, its graph) over the records it still has.
	own := map[string]*StepResult{}
	for id, r := range recs {
		if g.steps[id] != nil {
			own[id] = r
		}
	}
	in := plan.RetryInput{Graph: planGraph{g}, Recorded: status, InRun: map[string]bool{},
		Edited: map[string]bool{}, Changed: map[string]bool{}, Again: retried(f, own)}
	for _, p := range meta.Plan {
		in.InRun[p.ID] = true
	}
	for id, fp := range recFP {
		if fp == "" || fp == fps[id] {
			continue // unknown (an older kitaru's record), or unchanged
		}
		in.Changed[id] = true
		// Hashed again with its dependencies as recorded: if it still
		// differs, its own definition changed, not only one upstream.
		deps := maps.Clone(fps)
		for _, d := range g.steps[id].Deps {
			if rf := recFP[d]; rf != "" {
				deps[d] = rf
			}
		}
		if stepFingerprint(g.steps[id], inputs, deps) != fp {
			in.Edited[id] = true
		}
	}
	rp := plan.Retry(in)

	change := &runstore.FlowChange{File: f.File}
	sum := sha256.Sum256(f.Source)
	change.Hash = hex.EncodeToString(sum[:])
	for _, id := range g.order {
		switch why := rp.Runs[id]; why.Code {
		case runstore.ReasonDefinitionChanged:
			change.Edited = append(change.Edited, id)
		case runstore.ReasonAddedStep:
			change.Added = append(change.Added, id)
		}
	}
	for _, p := range meta.Plan {
		if g.steps[p.ID] == nil {
			change.Removed = append(change.Removed, p.ID)
		}
	}

	// What the records that go had spent stays the run's (as for the
	// failed records of any retry); a foreach step's items keep theirs.
	for id := range rp.Redo {
		r := recs[id]
		if r == nil || r.Kind == flowspec.KindWait || planForeach(meta.Plan, id) {
			continue
		}
		if sp := spendOf(r.Attempts, r.Error, r.DurationMS, r.Usage, r.CostUSD, r.AttemptsDetail); spentAny(sp) {
			if meta.Earlier == nil {
				meta.Earlier = map[string]Spend{}
			}
			meta.Earlier[id] = sp
		}
	}
	meta.Inputs = inputs
	meta.Plan = planOf(f)
	// A flow read from stdin has no file or directory of its own: the run
	// keeps those it had.
	if f.File != "" && f.File != flowspec.StdinName {
		meta.FlowFile = f.File
	}
	if f.Dir != "" || meta.WorkDir == "" {
		meta.WorkDir = e.replayWorkDir(f, meta)
	}
	if f.Budget != old.Budget {
		// The file's budget was edited: it is the run's from now on
		// (--max-cost and --max-tokens still go over it).
		meta.Budget = budgetOf(f.Budget)
	}
	meta.Reused = keptReused(meta.Reused, g, rp.Redo)
	for id := range meta.ReuseNotes {
		if _, redo := rp.Redo[id]; redo || g.steps[id] == nil {
			delete(meta.ReuseNotes, id)
		}
	}
	// The run is continued from this write on: were this process killed
	// before it ends again, it reads as interrupted and resume continues
	// it, redo list first. The index (written when the run stops) no
	// longer says what the records hold; a replay reads them meanwhile.
	meta.Status, meta.EndedAt, meta.Output = RunRunning, nil, nil
	meta.Ending, meta.Error, meta.Remedy = nil, nil, nil
	meta.Index = nil
	// Redo: the records that go, and why each step the edit makes run
	// does (forgetting a step without a record here does nothing).
	meta.Redo = maps.Clone(rp.Redo)
	maps.Copy(meta.Redo, rp.Runs)
	meta.SubFlows = subFlowSources(f) // the edited flow's sub-flows, in the same write
	if err := e.store.ReplaceFlow(ctx, meta, f.Source); err != nil {
		return nil, fmt.Errorf("cannot record the edited flow for run %s (the run is unchanged): %w", meta.ID, err)
	}
	hook("retryflow:replaced", "")
	ev := Event{Time: time.Now().UTC(), Type: runstore.EventFlowChanged, RunID: meta.ID, Flow: change}
	if err := e.store.AppendEvents(ctx, meta.ID, ev); err != nil {
		e.warn(fmt.Errorf("run %s: the journal does not say the flow changed: %w", meta.ID, err))
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.Event(ev)
	}
	return e.continueRun(ctx, meta, f, parallel, opts...)
}

// flowName names a flow's file for a message ("the flow" from stdin).
func flowName(f *flowspec.Flow) string {
	if f.File == "" || f.File == "-" || f.File == flowspec.StdinName {
		return "the flow given"
	}
	return f.File
}

// editedInputs are the run's inputs as the edited flow binds them: those it
// no longer declares are dropped, new ones take their defaults. A new
// input without one cannot be given: a retry keeps the run's inputs.
func editedInputs(meta *RunMeta, f *flowspec.Flow) (map[string]any, error) {
	given := map[string]any{}
	for _, in := range f.Inputs {
		if v, ok := meta.Inputs[in.Name]; ok {
			given[in.Name] = v
		}
	}
	inputs, err := bindInputs(f, given)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("run %s keeps its own inputs, and the edited flow %s needs more: %w (give the new input a default, or make a new run with kitaru replay %s --flow FILE --input NAME=VALUE)",
			meta.ID, flowName(f), err, meta.ID)}
	}
	return inputs, nil
}

// editedBase is, for the edited flow's steps, the status and fingerprint
// of each one's record in the run: its own, or the one a replay reused
// (read from the run holding it).
func (e *Engine) editedBase(ctx context.Context, meta *RunMeta, g *graph, recs map[string]*StepResult) (map[string]runstore.StepStatus, map[string]string, error) {
	status, fp := map[string]runstore.StepStatus{}, map[string]string{}
	for id, r := range recs {
		if g.steps[id] != nil && r.Status != StepPending {
			status[id], fp[id] = r.Status, r.Fingerprint
		}
	}
	for id, ref := range reusedOf(meta) {
		if g.steps[id] == nil || recs[id] != nil {
			continue
		}
		r, err := e.store.LoadStep(ctx, ref.Run, id)
		switch {
		case errors.Is(err, runstore.ErrNotFound) || err == nil && r == nil:
			continue // its record is gone: the step runs as one never run
		case err != nil:
			return nil, nil, fmt.Errorf("run %s reuses step %s of run %s, whose record cannot be read: %w", meta.ID, id, ref.Run, err)
		}
		status[id], fp[id] = ref.Status, r.Fingerprint
	}
	return status, fp, nil
}

// keptReused is a replay's reused groups without the steps the edited flow
// redoes or no longer has: those run here now, or are not part of it.
func keptReused(groups []runstore.ReusedGroup, g *graph, redo map[string]runstore.Reason) []runstore.ReusedGroup {
	var out []runstore.ReusedGroup
	for _, grp := range groups {
		grp.Steps = slices.DeleteFunc(slices.Clone(grp.Steps), func(id string) bool {
			_, again := redo[id]
			return again || g.steps[id] == nil
		})
		if len(grp.Steps) > 0 {
			out = append(out, grp)
		}
	}
	return out
}

// forgetRedo carries out what an edited flow left to redo: the records
// of the steps in meta.Redo go, and then the list (a crash part-way
// forgets them again). It returns why those steps run, for their records.
func (e *Engine) forgetRedo(ctx context.Context, meta *RunMeta) (map[string]*Reason, error) {
	if len(meta.Redo) == 0 {
		return nil, nil
	}
	why := map[string]*Reason{}
	for _, id := range slices.Sorted(maps.Keys(meta.Redo)) {
		if err := e.store.ForgetStep(ctx, meta.ID, id); err != nil {
			return nil, err
		}
		hook("retryflow:forgot", id)
		if r := meta.Redo[id]; r.Code != "" {
			why[id] = &r
		}
	}
	meta.Redo = nil
	if err := e.store.SaveMeta(ctx, meta); err != nil {
		return nil, err
	}
	return why, nil
}
