package flowspec

import (
	"gopkg.in/yaml.v3"

	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// Bounds of max_output, the bytes of stdout a run: step may print.
const (
	// DefaultMaxOutput is what a step may print when neither it nor the
	// flow's defaults set max_output: far more than a value passed to the
	// next step needs, small enough that a runaway command (yes) is
	// stopped within a second and costs no more than that much memory.
	DefaultMaxOutput int64 = 16 << 20
	// MaxMaxOutput is the highest max_output: kitaru holds a step's output
	// in memory while it records it as JSON (at its peak about four times
	// the output), so bigger data belongs in a file.
	MaxMaxOutput int64 = 256 << 20
)

// maxOutput reads a max_output field; 0 means the default (also when it
// says exactly the default, so that writing it out changes no fingerprint).
func (l *loader) maxOutput(n *yaml.Node, where string) int64 {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.e.add(pos(n), "%smax_output must be a size such as 16MiB, not %s", where, nodeKind(n))
		return 0
	}
	v, err := bytesize.Parse(n.Value)
	switch {
	case err != nil:
		l.e.add(pos(n), "%smax_output: %v", where, err)
		return 0
	case v > MaxMaxOutput:
		l.e.add(pos(n), "%smax_output must be at most %s (kitaru keeps a step's output in memory and in its record); write bigger output to a file and print its path", where, bytesize.Format(MaxMaxOutput))
		return 0
	case v == DefaultMaxOutput:
		return 0
	}
	return v
}
