package engine

import (
	"github.com/kitaruhq/kitaru/flowspec"
)

// parseFlow loads a run's flow snapshot. It was fully checked when the run
// started, so its expressions compile when a step first evaluates them: a
// replay or resume of a long run pays only for the steps it runs.
// Its sub-flows come from the copies the run's meta keeps (subs).
func parseFlow(file string, src []byte, subs map[string]string) (*flowspec.Flow, error) {
	opts := flowspec.Options{Lazy: true}
	if len(subs) > 0 {
		opts.SubFlows = make(map[string][]byte, len(subs))
		for k, v := range subs {
			opts.SubFlows[k] = []byte(v)
		}
	}
	return flowspec.Parse(file, src, opts)
}

// bindInputs checks and coerces given inputs against the flow's.
func bindInputs(f *flowspec.Flow, given map[string]any) (map[string]any, error) {
	return f.BindInputs(given)
}
