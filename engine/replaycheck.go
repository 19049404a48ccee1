package engine

import (
	"context"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// modelChanges says which llm steps of a replay would now be sent to
// another model than the one their record answered with, and how: the
// step's model as the registry snapshot of the run holding its record
// resolved it, against the replay's registry. A fingerprint hashes the
// step's text, where an alias stays the same word when it is registered
// again with another model.
//
// Comparing snapshots instead of hashing the model into fingerprints keeps
// the fingerprints of runs recorded before: a replay of one where nothing
// changed still reuses its llm steps (running them again would cost money
// silently). A run without a snapshot, or a model that does not resolve on
// either side, changes nothing here.
func (e *Engine) modelChanges(ctx context.Context, g *graph, index map[string]IndexEntry, src *RunMeta, reg *providers.Registry) map[string]*ModelChange {
	if reg == nil {
		return nil
	}
	regs := map[string]*providers.Registry{src.ID: src.Registry}
	out := map[string]*ModelChange{}
	for _, id := range g.order {
		s := g.steps[id]
		ie, has := index[id]
		if !has || s.Kind != flowspec.KindLLM || s.LLM == nil {
			continue
		}
		home := ie.Run
		if home == "" {
			home = src.ID
		}
		was, seen := regs[home]
		if !seen {
			// sourceIndex has read this run already, so it reads.
			if m, err := e.store.LoadSummary(ctx, home); err == nil {
				was = m.Registry
			}
			regs[home] = was
		}
		if was == nil {
			continue
		}
		if how := modelChange(s.LLM.Model, *was, *reg); how != nil {
			out[id] = how
		}
	}
	return out
}

// modelChange says how model (as a step names it) resolves differently in
// now than in was; nil when it does not, or cannot be told.
func modelChange(model string, was, now providers.Registry) *ModelChange {
	old, err := was.Resolve(model, nil)
	if err != nil {
		return nil
	}
	cur, err := now.Resolve(model, nil)
	if err != nil || cur.SameTarget(old) {
		return nil
	}
	return &ModelChange{Was: old.Model, Now: cur.Model, WasAlias: old.Alias, NowAlias: cur.Alias, WasBaseURL: old.BaseURL, NowBaseURL: cur.BaseURL}
}

// drifts says, for the steps a replay with --from may reuse (not the step
// it names nor those downstream of it), how those that no longer match
// what is replayed moved: their reuse is --from's doing, and their reason
// says what changed. fresh are the fingerprints the replayed flow and
// inputs give; srcInputs are the source run's inputs.
func drifts(g *graph, index map[string]IndexEntry, from string, fresh map[string]string, inputs, srcInputs map[string]any) map[string]plan.Drift {
	out := map[string]plan.Drift{}
	down := g.descendants(from)
	for _, id := range g.topo() {
		ie, has := index[id]
		if !has || id == from || down[id] || ie.Fingerprint == fresh[id] {
			continue
		}
		// Which part of the fingerprint moved: hashed again with the
		// recorded fingerprints of its dependencies, then with the
		// source's inputs too.
		s := g.steps[id]
		recorded := make(map[string]string, len(s.Deps))
		for _, d := range s.Deps {
			recorded[d] = index[d].Fingerprint
		}
		var d plan.Drift
		switch {
		case stepFingerprint(s, inputs, recorded) == ie.Fingerprint:
			d.DepsOnly = true
			for _, dep := range s.Deps {
				if fresh[dep] != index[dep].Fingerprint {
					d.ChangedDep = dep
					break
				}
			}
		case stepFingerprint(s, srcInputs, recorded) == ie.Fingerprint:
			d.InputsOnly = true
		}
		out[id] = d
	}
	return out
}
