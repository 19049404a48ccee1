package plan

import "github.com/kitaruhq/kitaru/engine/runstore"

// Recorded is what the run a replay is made from holds of a step.
type Recorded struct {
	Status runstore.StepStatus
	Home   string // the run whose records hold it; "" : the source itself
}

// ReplayInput is what a replay is planned from: the caller reads the
// records and hashes the flow, the plan only decides.
type ReplayInput struct {
	Graph  Graph
	Order  []string // the steps in file order, as reused groups list them
	Source string   // the source run's id
	// Recorded are the steps the source has a record of (its own, or one
	// it reused). InSource are the steps of the source's flow, when known
	// (nil: not), to tell a new step from one that never ran there.
	Recorded map[string]Recorded
	InSource map[string]bool
	// From is the step --from names ("" without), FromSel the selector
	// as the run records it ("each" or "each[2]").
	From, FromSel string
	Overrides     map[string]bool // the steps --override gives outputs
	// Changed are the steps whose fingerprint differs from their record's
	// (without --from only: with it, recorded fingerprints stand).
	Changed map[string]bool
	// Models are the llm steps a model other than their record's would
	// answer now.
	Models map[string]*runstore.ModelChange
	// With --from, Drift says how a step it may reuse no longer matches
	// the flow and inputs replayed (steps that still match have none);
	// Edited: the replay was given a flow file.
	Drift  map[string]Drift
	Edited bool
	// Missing are the steps that run because their record is gone (removed
	// by hand, or with the run holding it), and why: the caller reads the
	// records, and the plan ranks it as a reason of the step's own.
	Missing map[string]runstore.Reason
	// Continued are the steps of the replayed flow with continue_on_error:
	// a failure recorded for one is its accepted outcome, which the
	// replay reuses like a completion (--from it to run it again).
	Continued map[string]bool
}

// Drift is how a step's fingerprint moved, as hashing it again with parts
// of its record tells.
type Drift struct {
	// DepsOnly: with its dependencies' recorded fingerprints it hashes as
	// recorded, so only they moved; ChangedDep is the first of them (in
	// its order) whose fingerprint moved, "" when none is found.
	DepsOnly   bool
	ChangedDep string
	// InputsOnly: with the source's inputs too it hashes as recorded, so
	// an input it reads changed.
	InputsOnly bool
}

// ReplayPlan is what a replay runs and reuses.
type ReplayPlan struct {
	// Runs are the steps that run again and why (overridden steps are
	// neither run nor reused: their output is given).
	Runs map[string]runstore.Reason
	// Reused are the other steps, grouped by the run holding their record
	// and their status, in file order.
	Reused []runstore.ReusedGroup
	// Notes say, for steps --from reuses although they no longer match,
	// what changed (nil when nothing did).
	Notes map[string]runstore.Reason
	// Tainted are the steps with a dependency that runs again or is
	// overridden: what they read may differ from what their record read.
	Tainted map[string]bool
}

// cause is why the steps downstream of one run: rank orders the causes,
// --from first, then overrides, then the steps that run for a reason of
// their own, each set in dependency order, and the first cause upstream of
// a step is the one its reason names.
type cause struct {
	why  runstore.Reason
	rank [2]int
}

func (c cause) before(o cause) bool {
	return c.rank[0] < o.rank[0] || c.rank[0] == o.rank[0] && c.rank[1] < o.rank[1]
}

// Replay plans a replay: which steps run and why, which are reused from
// where, and what changed in those --from reuses all the same.
func Replay(in ReplayInput) ReplayPlan {
	p := ReplayPlan{Runs: map[string]runstore.Reason{}, Tainted: map[string]bool{}}
	up := map[string]cause{} // steps that run or are overridden: what they cause downstream
	for i, id := range in.Graph.Topo() {
		var first *cause
		for _, d := range in.Graph.Deps(id) {
			if c, ok := up[d]; ok && (first == nil || c.before(*first)) {
				first = &c
			}
		}
		p.Tainted[id] = first != nil
		var own *cause
		switch {
		case id == in.From:
			p.Runs[id] = runstore.Reason{Code: runstore.ReasonFrom, From: in.FromSel}
			own = &cause{runstore.Reason{Code: runstore.ReasonDownstreamOfFrom, From: in.FromSel}, [2]int{0, 0}}
		case in.Overrides[id]:
			own = &cause{runstore.Reason{Code: runstore.ReasonDownstreamOverride, Step: id}, [2]int{1, i}}
		case first != nil:
			p.Runs[id] = first.why
			up[id] = *first
			continue
		default:
			why, runs := in.ownReason(id)
			if !runs {
				continue
			}
			p.Runs[id] = why
			own = &cause{runstore.Reason{Code: runstore.ReasonDownstream, Step: id}, [2]int{2, i}}
		}
		if first != nil && first.before(*own) {
			own = first
		}
		up[id] = *own
	}
	for id := range in.Overrides {
		delete(p.Runs, id)
	}
	p.Reused = in.reusedGroups(p.Runs)
	if in.From != "" {
		for _, g := range p.Reused {
			for _, id := range g.Steps {
				if n, ok := in.note(id); ok {
					if p.Notes == nil {
						p.Notes = map[string]runstore.Reason{}
					}
					p.Notes[id] = n
				}
			}
		}
	}
	return p
}

// ownReason says whether a step runs for a reason of its own, and which.
func (in ReplayInput) ownReason(id string) (runstore.Reason, bool) {
	if why, ok := in.Missing[id]; ok {
		return why, true
	}
	rec, has := in.Recorded[id]
	switch {
	case !has && in.InSource == nil:
		return runstore.Reason{Code: runstore.ReasonNoRecord}, true
	case !has && in.InSource[id]:
		return runstore.Reason{Code: runstore.ReasonNotRun}, true
	case !has:
		return runstore.Reason{Code: runstore.ReasonNewStep}, true
	case rec.Status != runstore.StepCompleted && rec.Status != runstore.StepSkipped &&
		(rec.Status != runstore.StepFailed || !in.Continued[id]):
		return runstore.Reason{Code: runstore.ReasonUnfinished, Status: rec.Status}, true
	case in.From != "":
		// --from decides; what changed upstream of it is only noted.
	case in.Changed[id]:
		return runstore.Reason{Code: runstore.ReasonFingerprintChanged}, true
	case in.Models[id] != nil:
		return runstore.Reason{Code: runstore.ReasonModelChanged, Model: in.Models[id]}, true
	}
	return runstore.Reason{}, false
}

// reusedGroups groups the steps that neither run nor are overridden by the
// run holding their record and their status there.
func (in ReplayInput) reusedGroups(runs map[string]runstore.Reason) []runstore.ReusedGroup {
	type ref struct {
		run    string
		status runstore.StepStatus
	}
	var out []runstore.ReusedGroup
	at := map[ref]int{}
	for _, id := range in.Order {
		if _, run := runs[id]; run || in.Overrides[id] {
			continue
		}
		rec := in.Recorded[id]
		r := ref{rec.Home, rec.Status}
		if r.run == "" {
			r.run = in.Source
		}
		i, ok := at[r]
		if !ok {
			i = len(out)
			at[r] = i
			out = append(out, runstore.ReusedGroup{Run: r.run, Status: r.status})
		}
		out[i].Steps = append(out[i].Steps, id)
	}
	return out
}

// note says what changed in a step --from reuses, if anything did.
func (in ReplayInput) note(id string) (runstore.Reason, bool) {
	if m := in.Models[id]; m != nil {
		return runstore.Reason{Code: runstore.ReasonModelChanged, Model: m}, true
	}
	d, drifted := in.Drift[id]
	switch {
	case !drifted:
		return runstore.Reason{}, false
	case d.DepsOnly:
		return runstore.Reason{Code: runstore.ReasonDependencyChanged, Step: d.ChangedDep}, true
	case d.InputsOnly:
		return runstore.Reason{Code: runstore.ReasonInputChanged}, true
	case in.Edited:
		return runstore.Reason{Code: runstore.ReasonDefinitionChanged}, true
	}
	return runstore.Reason{Code: runstore.ReasonFingerprintChanged}, true
}
