package engine

import "github.com/kitaruhq/kitaru/engine/runstore"

// reusedRef is where a reused step's record lives and its status.
type reusedRef struct {
	Run    string
	Status StepStatus
}

func reusedOf(m *RunMeta) map[string]reusedRef {
	out := map[string]reusedRef{}
	for _, g := range m.Reused {
		for _, s := range g.Steps {
			out[s] = reusedRef{Run: g.Run, Status: g.Status}
		}
	}
	return out
}

// reuseReason says why a replay reused a step whose record is in run from:
// not downstream of --from (and what changed all the same, if anything
// did), or its fingerprint unchanged.
func reuseReason(m *RunMeta, step, from string) *Reason {
	if m.ReplayFrom == "" {
		return &Reason{Code: runstore.ReasonUnchanged, Run: from}
	}
	r := &Reason{Code: runstore.ReasonNotDownstream, Run: from, From: m.ReplayFrom}
	if n, ok := m.ReuseNotes[step]; ok {
		r.Though = &n
	}
	return r
}
