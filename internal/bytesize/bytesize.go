// Package bytesize reads and writes sizes of data as people write them in
// flow files and read them in messages: 16MiB, 512KiB, 100MB, 700B.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
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

// Parse reads a byte size: a whole number of bytes, or a number with a
// unit: KiB, MiB, GiB (1024-based; K, M, G mean the same), kB, MB, GB
// (1000-based) or B, in any case, with or without a space.
func Parse(s string) (int64, error) {
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

// Format writes n the way people write sizes: 16MiB, 1.5KiB, 700B.
func Format(n int64) string {
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
