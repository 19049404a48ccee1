package engine

import (
	"context"
	"fmt"

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
func (e *Engine) modelChanges(ctx context.Context, g *graph, index map[string]IndexEntry, src *RunMeta, reg *providers.Registry) map[string]string {
	if reg == nil {
		return nil
	}
	regs := map[string]*providers.Registry{src.ID: src.Registry}
	out := map[string]string{}
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
		if how := modelChange(s.LLM.Model, *was, *reg); how != "" {
			out[id] = how
		}
	}
	return out
}

// modelChange says how model (as a step names it) resolves differently in
// now than in was; "" when it does not, or cannot be told.
func modelChange(model string, was, now providers.Registry) string {
	old, err := was.Resolve(model, nil)
	if err != nil {
		return ""
	}
	cur, err := now.Resolve(model, nil)
	if err != nil || cur.Model == old.Model {
		return ""
	}
	if cur.Alias != "" && cur.Alias == old.Alias {
		return fmt.Sprintf("alias %s now resolves to %s, was %s", cur.Alias, cur.Model, old.Model)
	}
	named := func(r providers.Resolved) string {
		if r.Alias == "" {
			return r.Model
		}
		return r.Model + " (alias " + r.Alias + ")"
	}
	return fmt.Sprintf("now %s, was %s", named(cur), named(old))
}

// staleReuses says, for the steps a replay with --from reuses, which no
// longer match what is replayed and why: their reuse is --from's doing,
// and their reason says so. fresh are the fingerprints the replayed flow
// and inputs give; srcInputs are the source run's inputs; edited: the
// replay was given a flow file.
func staleReuses(g *graph, index map[string]IndexEntry, reused map[string]bool, fresh map[string]string,
	inputs, srcInputs map[string]any, edited bool, models map[string]string) map[string]string {
	notes := map[string]string{}
	for _, id := range g.topo() {
		if !reused[id] {
			continue
		}
		ie, s := index[id], g.steps[id]
		if how := models[id]; how != "" {
			notes[id] = "its model changed (" + how + ")"
			continue
		}
		if ie.Fingerprint == fresh[id] {
			continue
		}
		// Which part of the fingerprint moved: hashed again with the
		// recorded fingerprints of its dependencies, then with the
		// source's inputs too.
		recorded := make(map[string]string, len(s.Deps))
		for _, d := range s.Deps {
			recorded[d] = index[d].Fingerprint
		}
		switch {
		case stepFingerprint(s, inputs, recorded) == ie.Fingerprint:
			for _, d := range s.Deps {
				if fresh[d] != index[d].Fingerprint {
					notes[id] = "it depends on " + d + ", which changed"
					break
				}
			}
		case stepFingerprint(s, srcInputs, recorded) == ie.Fingerprint:
			notes[id] = "an input it reads changed"
		case edited:
			notes[id] = "its definition changed in the edited flow"
		default:
			notes[id] = "its definition or the inputs it reads changed"
		}
		if notes[id] == "" {
			notes[id] = "a step it depends on changed"
		}
	}
	return notes
}
