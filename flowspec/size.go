package flowspec

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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

var sizeUnits = []struct {
	name string
	mult int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseSize reads a byte size: a whole number of bytes, or a number with a
// unit: KiB, MiB, GiB (1024-based; K, M, G mean the same), kB, MB, GB
// (1000-based) or B, in any case, with or without a space.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.name) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.name)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "eEnNxX+") {
		return 0, fmt.Errorf("%q is not a size; write bytes or a number with a unit, e.g. 512KiB, 16MiB or 100MB", s)
	}
	v := f * float64(mult)
	if v < 1 || v > float64(1<<62) {
		return 0, fmt.Errorf("%q is out of range; a size is at least 1 byte", s)
	}
	return int64(v), nil
}

// FormatSize writes n the way people write sizes: 16MiB, 1.5KiB, 700B.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult {
			if n%u.mult == 0 {
				return strconv.FormatInt(n/u.mult, 10) + u.name
			}
			return strconv.FormatFloat(float64(n)/float64(u.mult), 'f', 1, 64) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// maxOutput reads a max_output field; 0 means the default (also when it
// says exactly the default, so that writing it out changes no fingerprint).
func (l *loader) maxOutput(n *yaml.Node, where string) int64 {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.e.add(pos(n), "%smax_output must be a size such as 16MiB, not %s", where, nodeKind(n))
		return 0
	}
	v, err := ParseSize(n.Value)
	switch {
	case err != nil:
		l.e.add(pos(n), "%smax_output: %v", where, err)
		return 0
	case v > MaxMaxOutput:
		l.e.add(pos(n), "%smax_output must be at most %s (kitaru keeps a step's output in memory and in its record); write bigger output to a file and print its path", where, FormatSize(MaxMaxOutput))
		return 0
	case v == DefaultMaxOutput:
		return 0
	}
	return v
}
