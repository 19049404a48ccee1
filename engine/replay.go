package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/providers"
)

// Replay makes a new run from a recorded one. Steps it does not need to run
// again are reused: the new run's meta points at the record where it lives
// (nothing is copied), and their outputs are read only when a step that
// runs needs them.
func (e *Engine) Replay(ctx context.Context, opts ReplayOptions) (*Run, error) {
	srcID, err := e.resolve(ctx, opts.Source)
	if err != nil {
		return nil, err
	}
	// The source's plan is not needed, only its index (and, for a replay
	// of a replay, where its reused steps live).
	src, err := e.store.LoadSummary(ctx, srcID)
	if err == nil && src.ReplayOf != nil {
		src, err = e.store.LoadMeta(ctx, srcID)
	}
	if err != nil {
		return nil, err
	}
	if e.liveStatus(ctx, src) == RunRunning {
		return nil, &UsageError{Err: fmt.Errorf("run %s is still running; replay it once it has stopped", srcID)}
	}
	f := opts.Flow
	if f == nil {
		if f, err = e.loadFlow(ctx, src); err != nil {
			return nil, err
		}
	}
	g := newGraph(f)
	// from is the step --from names, fromItem the item of --from STEP[N]
	// (-1 without); opts.From becomes the selector as the run records it.
	from, fromItem := "", -1
	if opts.From != "" {
		base, n, err := itemSelector(opts.From)
		if err != nil {
			return nil, err
		}
		if from, err = g.selectStep("--from", base); err != nil {
			return nil, err
		}
		fromItem, opts.From = n, from
		if n >= 0 {
			opts.From = fmt.Sprintf("%s[%d]", from, n)
		}
	}
	if len(opts.Overrides) > 0 {
		over := make(map[string]any, len(opts.Overrides))
		for sel, v := range opts.Overrides {
			id, err := g.selectStep("--override", sel)
			if err != nil {
				return nil, err
			}
			if _, dup := over[id]; dup {
				return nil, &UsageError{Err: fmt.Errorf("--override: step %s is overridden twice", id)}
			}
			over[id] = v
		}
		opts.Overrides = over
	}
	given := maps.Clone(src.Inputs)
	if given == nil {
		given = map[string]any{}
	}
	maps.Copy(given, opts.Inputs)
	// Inputs the (edited) flow no longer declares are dropped, not errors.
	declared := map[string]bool{}
	for _, in := range f.Inputs {
		declared[in.Name] = true
	}
	for k := range given {
		if !declared[k] && opts.Inputs[k] == nil {
			delete(given, k)
		}
	}
	inputs, err := bindInputs(f, given)
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, &UsageError{Err: err}
	}

	var reg *providers.Registry
	if e.cfg.Models != nil {
		cur, err := e.cfg.Models.Current()
		if err != nil && hasLLM(f) && src.Registry == nil {
			return nil, fmt.Errorf("cannot read the model registry: %w", err)
		}
		merged := cur
		if src.Registry != nil {
			merged = providers.Merge(cur, *src.Registry)
		}
		reg = &merged
	}

	index, err := e.sourceIndex(ctx, src)
	if err != nil {
		return nil, err
	}
	if fromItem >= 0 {
		ie, has := index[from]
		if err := e.checkItemSelector(ctx, g.steps[from], fromItem, srcID, ie, has); err != nil {
			return nil, err
		}
	}
	models := e.modelChanges(ctx, g, index, src, reg)
	// Without --from, fingerprints decide what runs. With it, reused steps
	// keep the fingerprints of their records (what their outputs came
	// from) and only the steps that run are hashed again.
	var fps map[string]string
	if opts.From == "" {
		fps = fingerprints(f, g, inputs, nil)
	}
	why := map[string]string{} // steps that run, and why
	topo := g.topo()
	if opts.From != "" {
		why[from] = "--from " + opts.From
		for d := range g.descendants(from) {
			why[d] = "downstream of --from " + opts.From
		}
	}
	for id := range opts.Overrides {
		for d := range g.descendants(id) {
			if _, ok := why[d]; !ok {
				why[d] = "downstream of the overridden step " + id
			}
		}
	}
	for _, id := range topo {
		if _, ok := why[id]; ok {
			continue
		}
		if _, ok := opts.Overrides[id]; ok {
			continue
		}
		ie, has := index[id]
		switch {
		case !has:
			why[id] = "no record of it in the source run (a new step, or one that never ran)"
		case !ok(ie.Status):
			why[id] = fmt.Sprintf("it did not complete in the source run (%s)", ie.Status)
		case opts.From == "" && ie.Fingerprint != fps[id]:
			why[id] = "fingerprint changed: its definition or the inputs it reads differ"
		case opts.From == "" && models[id] != "":
			why[id] = "model changed: " + models[id]
		default:
			continue
		}
		for d := range g.descendants(id) {
			if _, ok := why[d]; !ok {
				why[d] = "downstream of " + id
			}
		}
	}
	for id := range opts.Overrides {
		delete(why, id)
	}
	if fps == nil {
		known := map[string]string{}
		for id, ie := range index {
			_, runs := why[id]
			_, over := opts.Overrides[id]
			if !runs && !over && g.steps[id] != nil {
				known[id] = ie.Fingerprint
			}
		}
		fps = fingerprints(f, g, inputs, known)
	}

	id, err := e.store.NewID(ctx)
	if err != nil {
		return nil, err
	}
	srcRef := srcID
	meta := &RunMeta{
		Run: Run{
			ID: id, Flow: f.Name, Status: RunRunning, ReplayOf: &srcRef, Inputs: inputs,
			FlowFile: f.File, StartedAt: time.Now().UTC(), Registry: reg,
			ReplayFrom: opts.From, Overrides: opts.Overrides,
		},
		Parallel: opts.Parallel,
		Plan:     planOf(f),
	}
	if meta.FlowFile == "" {
		meta.FlowFile = src.FlowFile
	}
	meta.WorkDir = e.replayWorkDir(opts.Flow, src)
	groups := map[reusedRef]int{}
	for _, sid := range g.order {
		if _, runs := why[sid]; runs {
			continue
		}
		if _, over := opts.Overrides[sid]; over {
			continue
		}
		ref := reusedRef{Run: index[sid].Run, Status: index[sid].Status}
		if ref.Run == "" {
			ref.Run = srcID
		}
		gi, ok := groups[ref]
		if !ok {
			gi = len(meta.Reused)
			groups[ref] = gi
			meta.Reused = append(meta.Reused, ReusedGroup{Run: ref.Run, Status: ref.Status})
		}
		meta.Reused[gi].Steps = append(meta.Reused[gi].Steps, sid)
	}
	// Only an edited flow, given inputs or a moved alias can change a step
	// upstream of --from: without them there is nothing to note, and a
	// replay of a big run does not hash every step again.
	if opts.From != "" && (opts.Flow != nil || len(opts.Inputs) > 0 || len(models) > 0) {
		reused := map[string]bool{}
		for _, grp := range meta.Reused {
			for _, sid := range grp.Steps {
				reused[sid] = true
			}
		}
		fresh := fingerprints(f, g, inputs, nil)
		if notes := staleReuses(g, index, reused, fresh, inputs, src.Inputs, opts.Flow != nil, models); len(notes) > 0 {
			meta.ReuseNotes = notes
		}
	}
	unlock, err := e.createLocked(ctx, meta, f.Source)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := time.Now().UTC()
	for sid, v := range opts.Overrides {
		s := g.steps[sid]
		r := &StepResult{ID: sid, Kind: s.Kind, Status: StepCompleted, Output: v, Reason: "overridden",
			StartedAt: &now, EndedAt: &now, Fingerprint: fps[sid]}
		if err := e.store.SaveStep(ctx, id, r); err != nil {
			return nil, err
		}
	}
	x := e.newExecutionWith(f, g, fps, meta, e.parallel(opts.Parallel))
	x.reasons = why
	x.itemsFrom = itemSources(g, index, srcID, fps, why, opts.Overrides, models, from, fromItem)
	x.fresh = true
	if reg != nil {
		x.caller = e.cfg.Models.Caller(*reg)
	}
	if err := x.loadRecords(); err != nil {
		return nil, err
	}
	return x.run(ctx)
}

// sourceIndex is each step's status, fingerprint and home in the source
// run: its own index (or, when it never stopped cleanly, its records), and
// for the steps it reused, the index of the run holding them.
func (e *Engine) sourceIndex(ctx context.Context, src *RunMeta) (map[string]IndexEntry, error) {
	idx, err := e.ownIndex(ctx, src)
	if err != nil {
		return nil, err
	}
	if len(src.Reused) == 0 {
		return idx, nil
	}
	if src.Index != nil {
		idx = maps.Clone(idx) // the steps it reused are added below
	}
	homes := map[string]map[string]IndexEntry{}
	for _, g := range src.Reused {
		home, ok := homes[g.Run]
		if !ok {
			m, err := e.store.LoadSummary(ctx, g.Run)
			if err != nil {
				return nil, fmt.Errorf("run %s reuses steps of run %s, which cannot be read: %w", src.ID, g.Run, err)
			}
			if home, err = e.ownIndex(ctx, m); err != nil {
				return nil, err
			}
			homes[g.Run] = home
		}
		for _, sid := range g.Steps {
			ie := home[sid]
			ie.Status, ie.Run = g.Status, g.Run
			idx[sid] = ie
		}
	}
	return idx, nil
}

// ownIndex is the index of the steps whose records a run holds itself:
// its meta's own when it has one (not to be changed).
func (e *Engine) ownIndex(ctx context.Context, m *RunMeta) (map[string]IndexEntry, error) {
	if m.Index != nil {
		return m.Index, nil
	}
	recs, err := e.store.LoadSteps(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]IndexEntry, len(recs))
	for id, r := range recs {
		idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint}
	}
	return idx, nil
}

// selectStep resolves a step selector: a step id, KIND.ID (the Python
// Kitaru spelling, e.g. checkpoint.research), or an unambiguous prefix.
func (g *graph) selectStep(flag, sel string) (string, error) {
	if g.steps[sel] != nil {
		return sel, nil
	}
	if kind, id, ok := strings.Cut(sel, "."); ok {
		if s := g.steps[id]; s != nil && string(s.Kind) == kind {
			return id, nil
		}
	}
	var cands []string
	for _, id := range g.order {
		if strings.HasPrefix(id, sel) {
			cands = append(cands, id)
		}
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return "", &UsageError{Err: fmt.Errorf("%s %q: the flow has no such step; its steps are: %s", flag, sel, strings.Join(g.order, ", "))}
	}
	return "", &UsageError{Err: fmt.Errorf("%s %q is ambiguous: it could be %s", flag, sel, strings.Join(cands, ", "))}
}
