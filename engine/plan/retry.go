package plan

import "github.com/kitaruhq/kitaru/engine/runstore"

// RetryInput is what retrying a run in place against an edited flow
// (kitaru retry --flow) is planned from: the caller reads the run's records
// and hashes the edited flow, the plan only decides.
type RetryInput struct {
	Graph Graph // the edited flow's
	// Recorded are the steps of the edited flow with a record in the run,
	// by status; InRun, the steps of the run's flow before the edit.
	Recorded map[string]runstore.StepStatus
	InRun    map[string]bool
	// Edited are the recorded steps whose own definition differs in the
	// edited flow; Changed, those whose fingerprint differs at all (an
	// edited step upstream changes it too).
	Edited, Changed map[string]bool
	// Again are the recorded steps any retry runs again, edit or not: the
	// failed ones, and those that followed how they ended.
	Again map[string]bool
}

// RetryPlan is what the edit makes run again.
type RetryPlan struct {
	// Redo are the recorded steps whose record goes so that they run
	// again, and why: the edit, or (a zero Reason) they are in Again.
	Redo map[string]runstore.Reason
	// Runs are the steps that run because of the edit, and why: those of
	// Redo it changed, and the steps without a record it adds or that
	// are downstream of a step it changed.
	Runs map[string]runstore.Reason
}

// Retry plans a retry against an edited flow. A step runs again when the
// edit added it or changed its definition, or when it is downstream of
// such a step; the steps of Again run again as in any retry; the other
// recorded steps are kept, and steps without a record run as they would.
func Retry(in RetryInput) RetryPlan {
	p := RetryPlan{Redo: map[string]runstore.Reason{}, Runs: map[string]runstore.Reason{}}
	up := map[string]cause{} // steps the edit makes run: what they cause downstream
	for i, id := range in.Graph.Topo() {
		var first *cause
		for _, d := range in.Graph.Deps(id) {
			if c, ok := up[d]; ok && (first == nil || c.before(*first)) {
				first = &c
			}
		}
		_, recorded := in.Recorded[id]
		var why *runstore.Reason
		switch {
		case !recorded && !in.InRun[id]:
			why = &runstore.Reason{Code: runstore.ReasonAddedStep}
		case recorded && in.Edited[id]:
			why = &runstore.Reason{Code: runstore.ReasonDefinitionChanged}
		case first != nil:
			why = &first.why
		case recorded && in.Changed[id]:
			// Its fingerprint moved though neither it nor a step upstream
			// was edited: said as any change of its definition.
			why = &runstore.Reason{Code: runstore.ReasonDefinitionChanged}
		}
		if why == nil {
			if recorded && in.Again[id] {
				p.Redo[id] = runstore.Reason{}
			}
			continue
		}
		p.Runs[id] = *why
		if recorded {
			p.Redo[id] = *why
		}
		own := cause{runstore.Reason{Code: runstore.ReasonDownstream, Step: id}, [2]int{0, i}}
		if first != nil && first.before(own) {
			own = *first
		}
		up[id] = own
	}
	return p
}
