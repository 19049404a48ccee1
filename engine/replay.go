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
	if e.err != nil {
		return nil, e.err
	}
	srcID, err := e.store.Resolve(opts.Source)
	if err != nil {
		return nil, err
	}
	src, err := e.store.LoadMeta(srcID)
	if err != nil {
		return nil, err
	}
	if e.liveStatus(src) == RunRunning {
		return nil, &UsageError{Err: fmt.Errorf("run %s is still running; replay it once it has stopped", srcID)}
	}
	f := opts.Flow
	if f == nil {
		if f, err = e.loadFlow(src); err != nil {
			return nil, err
		}
	}
	g := newGraph(f)
	if opts.From != "" && g.steps[opts.From] == nil {
		return nil, &UsageError{Err: fmt.Errorf("--from %q: %s", opts.From, unknownStep(opts.From, g.order))}
	}
	for id := range opts.Overrides {
		if g.steps[id] == nil {
			return nil, &UsageError{Err: fmt.Errorf("--override %q: %s", id, unknownStep(id, g.order))}
		}
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

	index, err := e.sourceIndex(src)
	if err != nil {
		return nil, err
	}
	fps := fingerprints(f, g, inputs)
	why := map[string]string{} // steps that run, and why
	topo := g.topo()
	if opts.From != "" {
		why[opts.From] = "--from " + opts.From
		for d := range g.descendants(opts.From) {
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
			why[id] = "new step (not in the source run)"
		case !ok(ie.Status):
			why[id] = fmt.Sprintf("it did not complete in the source run (%s)", ie.Status)
		case opts.From == "" && ie.Fingerprint != fps[id]:
			why[id] = "fingerprint changed (its definition or the inputs it reads)"
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

	id, err := e.store.NewID()
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
		Refs:     map[string]StepRef{},
	}
	if meta.FlowFile == "" {
		meta.FlowFile = src.FlowFile
	}
	for _, sid := range g.order {
		if _, runs := why[sid]; runs {
			continue
		}
		if _, over := opts.Overrides[sid]; over {
			continue
		}
		where := index[sid].Run
		if where == "" {
			where = srcID
		}
		reason := "reused from " + srcID + ": fingerprint unchanged"
		if opts.From != "" {
			reason = "reused from " + srcID + ": not downstream of --from " + opts.From
		}
		meta.Refs[sid] = StepRef{Run: where, Reason: reason}
	}
	if err := e.store.Create(meta, f.Source); err != nil {
		return nil, err
	}
	unlock, err := e.store.Lock(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := time.Now().UTC()
	for sid, v := range opts.Overrides {
		s := g.steps[sid]
		r := &StepResult{ID: sid, Kind: s.Kind, Status: StepCompleted, Output: v, Reason: "overridden",
			StartedAt: &now, EndedAt: &now, Fingerprint: fps[sid]}
		if err := e.store.SaveStep(id, r); err != nil {
			return nil, err
		}
	}
	x := e.newExecution(f, meta, e.parallel(opts.Parallel))
	x.reasons = why
	if reg != nil {
		x.caller = e.cfg.Models.Caller(*reg)
	}
	if err := x.loadRecords(); err != nil {
		return nil, err
	}
	return x.run(ctx)
}

// sourceIndex is each step's status, fingerprint and home in the source
// run: its index when it stopped cleanly, else read from its records.
func (e *Engine) sourceIndex(src *RunMeta) (map[string]IndexEntry, error) {
	if src.Index != nil {
		return src.Index, nil
	}
	recs, err := e.store.LoadSteps(src.ID)
	if err != nil {
		return nil, err
	}
	idx := map[string]IndexEntry{}
	for id, r := range recs {
		idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint}
	}
	for id, ref := range src.Refs {
		if _, ok := idx[id]; ok {
			continue
		}
		r, err := e.store.LoadStep(ref.Run, id)
		if err != nil || r == nil {
			continue
		}
		idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint, Run: ref.Run}
	}
	return idx, nil
}

func unknownStep(id string, valid []string) string {
	return fmt.Sprintf("the flow has no step %q; its steps are: %s", id, strings.Join(valid, ", "))
}
