package engine

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

// reuseReason says why a replay reused a step.
func reuseReason(m *RunMeta, step, from string) string {
	if m.ReplayFrom != "" {
		r := "reused from " + from + ": not downstream of --from " + m.ReplayFrom
		if n := m.ReuseNotes[step]; n != "" {
			r += ", though " + n
		}
		return r
	}
	return "reused from " + from + ": fingerprint unchanged"
}
