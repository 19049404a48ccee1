package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/kitaruhq/kitaru/flowspec"
)

// fingerprints hashes, for every step, its definition, the values of the
// inputs it reads and its dependencies' fingerprints: a replay re-executes
// exactly the steps whose fingerprint changed. Steps in known keep the
// fingerprint given.
func fingerprints(f *flowspec.Flow, g *graph, inputs map[string]any, known map[string]string) map[string]string {
	out := make(map[string]string, len(f.Steps))
	for _, id := range g.topo() {
		if fp, ok := known[id]; ok {
			out[id] = fp
			continue
		}
		out[id] = stepFingerprint(g.steps[id], inputs, out)
	}
	return out
}

// stepFingerprint is one step's fingerprint, with its dependencies'
// fingerprints taken from deps.
func stepFingerprint(s *flowspec.Step, inputs map[string]any, deps map[string]string) string {
	h := sha256.New()
	h.Write([]byte(s.Fingerprint()))
	h.Write([]byte{0})
	for _, in := range s.InputRefs {
		v, _ := json.Marshal(inputs[in]) // map keys sort, so this is stable
		h.Write([]byte(in))
		h.Write([]byte{'='})
		h.Write(v)
		h.Write([]byte{0})
	}
	for _, d := range s.Deps {
		h.Write([]byte(d))
		h.Write([]byte{'@'})
		h.Write([]byte(deps[d]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
