package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

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
func (e *Engine) modelChanges(ctx context.Context, g *graph, index map[string]IndexEntry, src *RunMeta, reg *providers.Registry) map[string]string {
	if reg == nil {
		return nil
	}
	type snapshot struct {
		reg *providers.Registry
		def *string // KITARU_DEFAULT_MODEL; nil: not recorded (an older kitaru)
	}
	snaps := map[string]snapshot{src.ID: {src.Registry, src.DefaultModel}}
	now := providers.DefaultModelEnv(nil)
	out := map[string]string{}
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
			if how := e.recordedModelChange(ctx, home, id, *reg, now); how != "" {
				out[id] = how
				continue
			}
		}
		if how := modelChange(s.LLM.Model, *was.reg, wasDef, *reg, now); how != "" {
			out[id] = how
		}
	}
	return out
}

// recordedModelChange compares the model step's record in run home says
// answered with the one the step, naming none, resolves to now; "" when
// they agree or the record does not say (a foreach step's, a mock's of an
// unresolved name).
func (e *Engine) recordedModelChange(ctx context.Context, home, step string, now providers.Registry, nowDef string) string {
	r, err := e.store.LoadStep(ctx, home, step)
	if err != nil || r == nil || r.Model == "" {
		return ""
	}
	cur, err := now.Resolve("", defaultModelEnv(nowDef))
	if err != nil || cur.Model == r.Model {
		return ""
	}
	old := providers.Resolved{Model: r.Model, Alias: r.Alias}
	return fmt.Sprintf("now %s, was %s", describeModel(cur, nowDef), describeModel(old, ""))
}

// modelChange says how model (as a step names it) resolves differently in
// now than in was, each with the KITARU_DEFAULT_MODEL it had (wasDef,
// nowDef); "" when it does not, or cannot be told.
func modelChange(model string, was providers.Registry, wasDef string, now providers.Registry, nowDef string) string {
	old, err := was.Resolve(model, defaultModelEnv(wasDef))
	if err != nil {
		return ""
	}
	cur, err := now.Resolve(model, defaultModelEnv(nowDef))
	if err != nil || cur.Model == old.Model {
		return ""
	}
	if cur.Alias != "" && cur.Alias == old.Alias {
		return fmt.Sprintf("alias %s now resolves to %s, was %s", cur.Alias, cur.Model, old.Model)
	}
	if model != "" {
		wasDef, nowDef = "", ""
	}
	return fmt.Sprintf("now %s, was %s", describeModel(cur, nowDef), describeModel(old, wasDef))
}

// describeModel is a resolved model for a reason: "openai/x (alias fast,
// from KITARU_DEFAULT_MODEL)"; def is the variable's value where the
// step's model came from it.
func describeModel(r providers.Resolved, def string) string {
	var how []string
	if r.Alias != "" {
		how = append(how, "alias "+r.Alias)
	}
	if def != "" {
		how = append(how, "from "+providers.EnvDefaultModel)
	}
	if len(how) == 0 {
		return r.Model
	}
	return r.Model + " (" + strings.Join(how, ", ") + ")"
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

// lostRecords adds to lost (step: why it cannot be reused) the steps of a
// completed source run that has no index and no record of them: every
// step of a completed run had one, so it was removed. edited: the replay
// has a flow file of its own, whose new steps never had a record.
func lostRecords(g *graph, index map[string]IndexEntry, src *RunMeta, edited bool, lost map[string]string) {
	if src.Index != nil || src.Status != RunCompleted || edited {
		return
	}
	for _, id := range g.order {
		if _, has := index[id]; !has {
			lost[id] = fmt.Sprintf("its record in run %s is missing, so it runs again", src.ID)
		}
	}
}

// seedLost marks as running (in why) the lost steps that could not be
// reused anyway, with the steps downstream of them. With --from, a lost
// step that kept its status is left to rerunMissing: it runs only if the
// replay reads it.
func seedLost(g *graph, index map[string]IndexEntry, lost map[string]string, from bool, why map[string]string, overrides map[string]any) {
	for _, id := range g.topo() {
		how, isLost := lost[id]
		_, has := index[id]
		_, runs := why[id]
		_, over := overrides[id]
		if !isLost || from && has || runs || over {
			continue
		}
		why[id] = how
		for d := range g.descendants(id) {
			if _, ok := why[d]; !ok {
				why[d] = "downstream of " + id
			}
		}
	}
}

// rerunMissing adds to why (the steps a replay runs) every step it would
// reuse and read (a dependency of a step that runs, or a step the flow's
// output reads) whose record is gone from the run holding it, with the
// steps downstream of it: reusing it would fail the replay half-way, and
// its descendants' records came from the output that is gone. A record
// that does not read is left to say so when read; lost says why a step
// whose home run is gone runs. Only the records the
// replay reads are looked at: a replay of the last of many steps reads a
// few, as before.
func (e *Engine) rerunMissing(ctx context.Context, f *flowspec.Flow, g *graph, index map[string]IndexEntry, srcID string,
	lost, why map[string]string, overrides map[string]any) {
	var queue []string // steps whose records the replay reads, first in, first out
	needs := func(id string) {
		queue = append(queue, g.steps[id].Deps...)
	}
	topo := g.topo()
	for _, id := range topo {
		if _, runs := why[id]; runs {
			needs(id)
		}
	}
	if f.Output != nil {
		queue = append(queue, f.Output.Refs().Steps...)
	}
	checked := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		_, runs := why[id]
		_, over := overrides[id]
		if runs || over || checked[id] || g.steps[id] == nil {
			continue
		}
		checked[id] = true
		home := index[id].Run
		if home == "" {
			home = srcID
		}
		r, err := e.store.LoadStep(ctx, home, id)
		if err != nil && !errors.Is(err, runstore.ErrNotFound) || r != nil {
			continue
		}
		why[id] = fmt.Sprintf("its record in run %s is missing, so it runs again", home)
		if how := lost[id]; how != "" {
			why[id] = how
		}
		needs(id)
		down := g.descendants(id)
		for _, d := range topo {
			_, runs := why[d]
			_, over := overrides[d]
			if down[d] && !runs && !over {
				why[d] = "downstream of " + id
				needs(d)
			}
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
