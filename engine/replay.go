package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// Replay makes a new run from a recorded one. Steps it does not need to run
// again are reused: the new run's meta points at the record where it lives
// (nothing is copied), and their outputs are read only when a step that
// runs needs them.
func (e *Engine) Replay(ctx context.Context, opts ReplayOptions) (*Run, error) {
	x, unlock, err := e.prepareReplay(ctx, opts, nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return x.run(ctx)
}

// prepareReplay records the replay opts ask for and returns the go at it
// that runs it, leased to this engine until unlock; with ref, a Temporal
// workflow drives it instead: nobody holds it, and unlock does nothing.
func (e *Engine) prepareReplay(ctx context.Context, opts ReplayOptions, ref *runstore.TemporalRef) (x *execution, unlock func(), err error) {
	srcID, err := e.resolve(ctx, opts.Source)
	if err != nil {
		return nil, nil, err
	}
	// The source's plan is not needed, only its index (and, for a replay
	// of a replay, where its reused steps live).
	src, err := e.store.LoadSummary(ctx, srcID)
	if err == nil && src.ReplayOf != nil {
		src, err = e.store.LoadMeta(ctx, srcID)
	}
	if err != nil {
		return nil, nil, err
	}
	if e.liveStatus(ctx, src) == RunRunning {
		return nil, nil, &UsageError{Err: fmt.Errorf("run %s is still running; replay it once it has stopped", srcID)}
	}
	f := opts.Flow
	if f == nil {
		if f, err = e.loadFlow(ctx, src); err != nil {
			return nil, nil, err
		}
	}
	g := newGraph(f)
	// from is the step --from names, fromItem the item of --from STEP[N]
	// (-1 without); opts.From becomes the selector as the run records it.
	from, fromItem := "", -1
	if opts.From != "" {
		base, n, err := itemSelector(opts.From)
		if err != nil {
			return nil, nil, err
		}
		if from, err = g.selectStep(SelectFrom, base); err != nil {
			return nil, nil, err
		}
		fromItem, opts.From = n, from
		if n >= 0 {
			opts.From = fmt.Sprintf("%s[%d]", from, n)
		}
	}
	if len(opts.Overrides) > 0 {
		over := make(map[string]any, len(opts.Overrides))
		for sel, v := range opts.Overrides {
			id, err := g.selectStep(SelectOverride, sel)
			if err != nil {
				return nil, nil, overrideOfItem(g, sel, err)
			}
			if _, dup := over[id]; dup {
				return nil, nil, &UsageError{Err: &StepChoiceError{Role: SelectOverride, Sel: sel, Matches: []string{id}, Twice: true}}
			}
			if err := checkOverride(g.steps[id], v); err != nil {
				return nil, nil, err
			}
			over[id] = v
		}
		opts.Overrides = over
		if _, both := over[from]; both && fromItem >= 0 {
			return nil, nil, &UsageError{Err: &ItemChoiceError{Role: SelectFrom, Sel: opts.From, Step: from, Item: fromItem, Problem: ItemOverridden}}
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
			return nil, nil, err
		}
		return nil, nil, &UsageError{Err: err}
	}

	var reg *providers.Registry
	if e.cfg.Models != nil {
		cur, err := e.cfg.Models.Current()
		if err != nil && hasLLM(f) && src.Registry == nil {
			return nil, nil, fmt.Errorf("cannot read the model registry: %w", err)
		}
		merged := cur
		if src.Registry != nil {
			merged = providers.Merge(cur, *src.Registry)
		}
		reg = &merged
	}

	index, lost, err := e.sourceIndex(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	lostRecords(g, index, src, opts.Flow != nil, lost)
	if fromItem >= 0 {
		ie, has := index[from]
		if err := e.checkItemSelector(ctx, g.steps[from], fromItem, srcID, ie, has); err != nil {
			return nil, nil, err
		}
	}
	models := e.modelChanges(ctx, g, index, src, reg)
	in := plan.ReplayInput{
		Graph: planGraph{g}, Order: g.order, Source: srcID, Recorded: recorded(index),
		From: from, FromSel: opts.From, Overrides: map[string]bool{}, Models: models, Edited: opts.Flow != nil,
	}
	for id := range opts.Overrides {
		in.Overrides[id] = true
	}
	in.InSource = e.sourceSteps(ctx, src, g, index)
	for _, s := range f.Steps {
		if s.ContinueOnError {
			if in.Continued == nil {
				in.Continued = map[string]bool{}
			}
			in.Continued[s.ID] = true
		}
	}
	// Steps whose record is lost run whatever the replay reads; with
	// --from, those the source still lists (their home run is gone) run
	// only when it reads them (planReplay).
	in.Missing = map[string]runstore.Reason{}
	for id, why := range lost {
		if _, listed := index[id]; from == "" || !listed {
			in.Missing[id] = why
		}
	}
	// Without --from, fingerprints decide what runs. With it, reused steps
	// keep the fingerprints of their records (what their outputs came
	// from) and only the steps that run are hashed again.
	var fps map[string]string
	switch {
	case opts.From == "":
		fps = fingerprints(f, g, inputs, nil)
		in.Changed = map[string]bool{}
		for id, ie := range index {
			if fp, ok := fps[id]; ok && ie.Fingerprint != fp {
				in.Changed[id] = true
			}
		}
	case opts.Flow != nil || len(opts.Inputs) > 0 || len(models) > 0:
		// Only an edited flow, given inputs or a moved alias can change a
		// step upstream of --from: without them there is nothing to note,
		// and a replay of a big run does not hash every step again.
		in.Drift = drifts(g, index, from, fingerprints(f, g, inputs, nil), inputs, src.Inputs)
	}
	rp := e.planReplay(ctx, f, g, index, lost, &in)
	why := make(map[string]*Reason, len(rp.Runs))
	for sid, r := range rp.Runs {
		why[sid] = &r
	}
	if fps == nil {
		known := map[string]string{}
		for id, ie := range index {
			_, runs := why[id]
			if !runs && !in.Overrides[id] && g.steps[id] != nil {
				known[id] = ie.Fingerprint
			}
		}
		fps = fingerprints(f, g, inputs, known)
	}

	itemsFrom := itemSources(g, withUnrecorded(g, index, src, opts.Flow != nil), srcID, fps, rp, models, from, fromItem)
	id, err := e.store.NewID(ctx)
	if err != nil {
		return nil, nil, err
	}
	srcRef := srcID
	meta := &RunMeta{
		Run: Run{
			ID: id, Flow: f.Name, Status: RunRunning, ReplayOf: &srcRef, Inputs: inputs,
			FlowFile: f.File, StartedAt: time.Now().UTC(), Registry: reg,
			ReplayFrom: opts.From, Overrides: opts.Overrides,
		},
		Parallel:     opts.Parallel,
		DefaultModel: defaultModel(reg),
		Plan:         planOf(f),
		SubFlows:     subFlowSources(f),
		Reused:       rp.Reused,
		ReuseNotes:   rp.Notes,
	}
	if meta.FlowFile == "" {
		meta.FlowFile = src.FlowFile
	}
	meta.WorkDir = e.replayWorkDir(opts.Flow, src)
	meta.Budget = budgetOf(f.Budget.Over(opts.Budget))
	meta.NoCache = opts.NoCache
	if ref != nil {
		if meta.Budget != nil {
			return nil, nil, drivenBudgetError()
		}
		r := *ref
		if r.WorkflowID == "" {
			r.WorkflowID = id
		}
		meta.Temporal = &r
		if meta.Parallel <= 0 {
			meta.Parallel = e.parallel(0)
		}
		// The workflow's reasons are read by its activities: kept with the run.
		meta.Why = make(map[string]Reason, len(why))
		for sid, r := range why {
			meta.Why[sid] = *r
		}
		meta.ItemsFrom = itemsRecord(itemsFrom)
	}
	unlock, err = e.createTold(ctx, meta, f.Source, opts.OnCreated)
	if err != nil {
		return nil, nil, err
	}
	if ref != nil {
		unlock()
		unlock = func() {}
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	now := time.Now().UTC()
	for sid, v := range opts.Overrides {
		s := g.steps[sid]
		r := &StepResult{ID: sid, Kind: s.Kind, Status: StepCompleted, Output: v, Why: &Reason{Code: runstore.ReasonOverridden},
			StartedAt: &now, EndedAt: &now, Fingerprint: fps[sid]}
		if err := e.store.SaveStep(ctx, id, r); err != nil {
			return nil, nil, err
		}
	}
	x = e.newExecutionWith(f, g, fps, meta, e.parallel(opts.Parallel))
	x.reasons = why
	x.beforeSteps = func() { x.stopSourceLeftovers(ctx, srcID) }
	x.itemsFrom = itemsFrom
	x.fresh = true
	if reg != nil {
		x.caller = e.cfg.Models.Caller(*reg)
	}
	if err := x.loadRecords(); err != nil {
		return nil, nil, err
	}
	return x, unlock, nil
}

// sourceIndex is each step's status, fingerprint and home in the source
// run: its own index (or, when it never stopped cleanly, its records), and
// for the steps it reused, the index of the run holding them. lost names,
// for the steps whose home run is gone (removed by hand), which run that
// was: they keep their status, with no fingerprint.
func (e *Engine) sourceIndex(ctx context.Context, src *RunMeta) (idx map[string]IndexEntry, lost map[string]runstore.Reason, err error) {
	idx, err = e.ownIndex(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	lost = map[string]runstore.Reason{}
	if len(src.Reused) == 0 {
		return idx, lost, nil
	}
	if src.Index != nil {
		idx = maps.Clone(idx) // the steps it reused are added below
	}
	homes := map[string]map[string]IndexEntry{}
	for _, g := range src.Reused {
		home, ok := homes[g.Run]
		if !ok {
			m, err := e.store.LoadSummary(ctx, g.Run)
			switch {
			case errors.Is(err, runstore.ErrNotFound):
				home = nil
			case err != nil:
				return nil, nil, fmt.Errorf("run %s reuses steps of run %s, which cannot be read: %w", src.ID, g.Run, err)
			default:
				if home, err = e.ownIndex(ctx, m); err != nil {
					return nil, nil, err
				}
			}
			homes[g.Run] = home
		}
		for _, sid := range g.Steps {
			ie := home[sid]
			ie.Status, ie.Run = g.Status, g.Run
			idx[sid] = ie
			if home == nil {
				lost[sid] = runstore.Reason{Code: runstore.ReasonHomeGone, Run: g.Run}
			}
		}
	}
	return idx, lost, nil
}

// recorded is the source's index as a replay plan reads it.
func recorded(index map[string]IndexEntry) map[string]plan.Recorded {
	out := make(map[string]plan.Recorded, len(index))
	for id, ie := range index {
		out[id] = plan.Recorded{Status: ie.Status, Home: ie.Run}
	}
	return out
}

// sourceSteps are the steps of the source's flow, read only when a step
// of the replay has no record there, to tell a new step from one that
// never ran; nil when they cannot be read (the replay then cannot tell).
func (e *Engine) sourceSteps(ctx context.Context, src *RunMeta, g *graph, index map[string]IndexEntry) map[string]bool {
	missing := false
	for _, id := range g.order {
		if _, has := index[id]; !has {
			missing = true
			break
		}
	}
	steps := src.Plan
	if missing && steps == nil {
		if m, err := e.store.LoadMeta(ctx, src.ID); err == nil {
			steps = m.Plan
		}
	}
	if !missing || len(steps) == 0 {
		return nil
	}
	out := make(map[string]bool, len(steps))
	for _, p := range steps {
		out[p.ID] = true
	}
	return out
}

// ownIndex is the index of the steps whose records a run holds itself:
// its meta's own when it has one (not to be changed).
func (e *Engine) ownIndex(ctx context.Context, m *RunMeta) (map[string]IndexEntry, error) {
	if m.Index != nil {
		// Read as it is, not copied (a big run's index is read by every
		// replay of it), unless an older kitaru's `input --no-resume`
		// recorded an answer but left the index saying "waiting": the
		// record decides then.
		idx, cloned := m.Index, false
		for id, ie := range m.Index {
			if ie.Status != StepWaiting {
				continue
			}
			if r, err := e.store.LoadStep(ctx, m.ID, id); err == nil && r != nil {
				if !cloned {
					idx, cloned = maps.Clone(m.Index), true
				}
				idx[id] = IndexEntry{Status: r.Status, Fingerprint: r.Fingerprint}
			}
		}
		return idx, nil
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

// SelectorRole is what a step selector is given for: the step a replay
// starts from, or a step whose output a replay overrides.
type SelectorRole string

// The roles of step selectors.
const (
	SelectFrom     SelectorRole = "from"
	SelectOverride SelectorRole = "override"
)

// StepChoiceError is a step selector that picks no single step: none
// matches (Matches is empty; Steps are the flow's), several do, or (Twice)
// it picks a step that another selector of the same role picked already.
// A front end words it with its own name for the role (a flag, a field).
type StepChoiceError struct {
	Role    SelectorRole
	Sel     string
	Matches []string
	Steps   []string
	Twice   bool
}

func (e *StepChoiceError) Error() string {
	switch {
	case e.Twice:
		return fmt.Sprintf("%s %q: step %s is chosen twice", e.Role, e.Sel, e.Matches[0])
	case len(e.Matches) > 1:
		return fmt.Sprintf("%s %q is ambiguous: it could be %s", e.Role, e.Sel, strings.Join(e.Matches, ", "))
	}
	return fmt.Sprintf("%s %q: the flow has no such step; its steps are: %s", e.Role, e.Sel, strings.Join(e.Steps, ", "))
}

// overrideOfItem is the error for --override STEP[N] (err when sel is no
// such thing): an override replaces a step's whole output, never one item.
func overrideOfItem(g *graph, sel string, err error) error {
	base, n, serr := itemSelector(sel)
	if serr != nil || n < 0 {
		return err
	}
	id, serr := g.selectStep(SelectOverride, base)
	if serr != nil {
		return err
	}
	return &UsageError{Err: &ItemChoiceError{Role: SelectOverride, Sel: sel, Step: id, Item: n, Problem: ItemOverride}}
}

// selectStep resolves a step selector: a step id, KIND.ID (the Python
// Kitaru spelling, e.g. checkpoint.research), or an unambiguous prefix.
func (g *graph) selectStep(role SelectorRole, sel string) (string, error) {
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
	if len(cands) == 1 {
		return cands[0], nil
	}
	return "", &UsageError{Err: &StepChoiceError{Role: role, Sel: sel, Matches: cands, Steps: g.order}}
}

// checkOverride checks an override of a wait step as an answer to it
// would be checked, before anything runs: the steps that read it rely on
// its schema as much as on a person's answer.
func checkOverride(s *flowspec.Step, v any) error {
	if s == nil || s.Wait == nil || s.Wait.Schema == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("the override of step %s cannot be encoded as JSON: %w", s.ID, err)}
	}
	_, err = checkAnswer("the override of step "+s.ID, s.Wait.Schema, raw)
	return err
}
