package engine

import (
	"context"
	"errors"
	"maps"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// modelChanges says which llm steps of a replay would now be sent to
// another model than the one their record answered with, and how: the
// step's model as the registry snapshot (and KITARU_DEFAULT_MODEL) of the
// run holding its record resolved it, against the replay's. A fingerprint
// hashes the step's text, where an alias stays the same word when it is
// registered again with another model, and a step naming no model names
// nothing at all.
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
	type snapshot struct {
		reg *providers.Registry
		def *string // KITARU_DEFAULT_MODEL; nil: not recorded (an older kitaru)
	}
	snaps := map[string]snapshot{src.ID: {src.Registry, src.DefaultModel}}
	now := providers.DefaultModelEnv(nil)
	out := map[string]*ModelChange{}
	for _, id := range g.order {
		s := g.steps[id]
		// A step without a record is looked at too: a foreach step the
		// source stopped part-way keeps its finished items.
		ie := index[id]
		if s.Kind != flowspec.KindLLM || s.LLM == nil {
			continue
		}
		home := ie.Run
		if home == "" {
			home = src.ID
		}
		was, seen := snaps[home]
		if !seen {
			// sourceIndex has read this run already, so it reads.
			if m, err := e.store.LoadSummary(ctx, home); err == nil {
				was = snapshot{m.Registry, m.DefaultModel}
			}
			snaps[home] = was
		}
		if was.reg == nil {
			continue
		}
		wasDef := now
		switch {
		case was.def != nil:
			wasDef = *was.def
		case s.LLM.Model == "":
			// An older kitaru did not keep the variable; the step's
			// record says which model answered.
			if how := e.recordedModelChange(ctx, home, id, *reg, now); how != nil {
				out[id] = how
				continue
			}
		}
		// Any model of a step's list counts: the list decides which model
		// answers, and one before the one that answered may answer now.
		for _, m := range s.LLM.Models() {
			if how := modelChange(m, *was.reg, wasDef, *reg, now); how != nil {
				out[id] = how
				break
			}
		}
	}
	return out
}

// recordedModelChange compares the model step's record in run home says
// answered with the one the step, naming none, resolves to now; nil when
// they agree or the record does not say (a foreach step's, a mock's of an
// unresolved name).
func (e *Engine) recordedModelChange(ctx context.Context, home, step string, now providers.Registry, nowDef string) *ModelChange {
	r, err := e.store.LoadStep(ctx, home, step)
	if err != nil || r == nil || r.Model == "" {
		return nil
	}
	cur, err := now.Resolve("", defaultModelEnv(nowDef))
	if err != nil || cur.Model == r.Model {
		return nil
	}
	return &ModelChange{Was: r.Model, Now: cur.Model, WasAlias: r.Alias, NowAlias: cur.Alias, NowDefault: nowDef != ""}
}

// modelChange says how model (as a step names it) resolves differently in
// now than in was, each with the KITARU_DEFAULT_MODEL it had (wasDef,
// nowDef); nil when it does not, or cannot be told.
func modelChange(model string, was providers.Registry, wasDef string, now providers.Registry, nowDef string) *ModelChange {
	old, err := was.Resolve(model, defaultModelEnv(wasDef))
	if err != nil {
		return nil
	}
	cur, err := now.Resolve(model, defaultModelEnv(nowDef))
	if err != nil || cur.SameTarget(old) {
		return nil
	}
	// Resolve takes the variable only for a step naming no model.
	return &ModelChange{Was: old.Model, Now: cur.Model, WasAlias: old.Alias, NowAlias: cur.Alias,
		WasDefault: model == "" && wasDef != "", NowDefault: model == "" && nowDef != "",
		WasBaseURL: old.BaseURL, NowBaseURL: cur.BaseURL}
}

// defaultModelEnv is a getenv for Registry.Resolve that holds only
// KITARU_DEFAULT_MODEL=def.
func defaultModelEnv(def string) func(string) string {
	return func(name string) string {
		if name == providers.EnvDefaultModel {
			return def
		}
		return ""
	}
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

// lostRecords adds to lost (step: why it cannot be reused) the steps of a
// completed source run that has no index and no record of them: every
// step of a completed run had one, so it was removed. edited: the replay
// has a flow file of its own, whose new steps never had a record.
func lostRecords(g *graph, index map[string]IndexEntry, src *RunMeta, edited bool, lost map[string]runstore.Reason) {
	if src.Index != nil || src.Status != RunCompleted || edited {
		return
	}
	for _, id := range g.order {
		if _, has := index[id]; !has {
			lost[id] = runstore.Reason{Code: runstore.ReasonRecordMissing, Run: src.ID}
		}
	}
}

// planReplay plans the replay, then looks for the records it would read
// of the steps it reuses (the dependencies of the steps that run, and the
// steps the flow's output reads): one that is gone from the run holding it
// joins in.Missing (with lost's reason when that run is gone) and the
// replay is planned again, until every record it reads was looked at.
// Reusing such a step would fail the replay half-way, and the records
// downstream of it came from the output that is gone. A record that does
// not read is left to say so when read. Only the records the replay reads
// are looked at, each once: a replay of the last of many steps reads a few.
func (e *Engine) planReplay(ctx context.Context, f *flowspec.Flow, g *graph, index map[string]IndexEntry,
	lost map[string]runstore.Reason, in *plan.ReplayInput) plan.ReplayPlan {
	checked := map[string]bool{}
	for {
		rp := plan.Replay(*in)
		var reads []string
		for _, id := range g.order {
			if _, runs := rp.Runs[id]; runs {
				reads = append(reads, g.steps[id].Deps...)
			}
		}
		if f.Output != nil {
			reads = append(reads, f.Output.Refs().Steps...)
		}
		gone := false
		for _, id := range reads {
			_, runs := rp.Runs[id]
			if runs || in.Overrides[id] || checked[id] || g.steps[id] == nil {
				continue
			}
			checked[id] = true
			home := index[id].Run
			if home == "" {
				home = in.Source
			}
			r, err := e.store.LoadStep(ctx, home, id)
			if err != nil && !errors.Is(err, runstore.ErrNotFound) || r != nil {
				continue
			}
			why, ok := lost[id]
			if !ok {
				why = runstore.Reason{Code: runstore.ReasonRecordMissing, Run: home}
			}
			in.Missing[id], gone = why, true
		}
		if !gone {
			return rp
		}
	}
}

// withUnrecorded is index with, for each foreach step of the source's own
// flow that has no record there (a kitaru killed while it ran), the
// fingerprint it would have recorded: its definition, the source's inputs
// and its dependencies' recorded fingerprints. itemSources can then tell,
// as for a recorded step, whether an older kitaru's keyless item records
// still match by position. edited: the flow replayed is not the source's.
func withUnrecorded(g *graph, index map[string]IndexEntry, src *RunMeta, edited bool) map[string]IndexEntry {
	if edited {
		return index
	}
	var out map[string]IndexEntry
	for _, id := range g.order {
		s := g.steps[id]
		if _, has := index[id]; has || s.Foreach == nil {
			continue
		}
		deps := make(map[string]string, len(s.Deps))
		for _, d := range s.Deps {
			ie, ok := index[d]
			if !ok {
				deps = nil
				break
			}
			deps[d] = ie.Fingerprint
		}
		if deps == nil {
			continue
		}
		if out == nil {
			out = maps.Clone(index)
		}
		out[id] = IndexEntry{Status: StepRunning, Fingerprint: stepFingerprint(s, src.Inputs, deps)}
	}
	if out == nil {
		return index
	}
	return out
}
