// Package humantime writes durations the one way kitaru shows them to
// people, in the live view, the records and the log lines alike: 629ms,
// 1.2s, 2m03s, 1h02m (Go's own form, 1m30.5s or 0s, is for programs).
package humantime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration writes d for people. Each unit is rounded, so 999.7ms reads
// 1.0s and 59.97s reads 1m00s; a negative d reads 0ms.
func Duration(d time.Duration) string {
	d = max(d, 0)
	if r := d.Round(time.Millisecond); r < time.Second {
		return fmt.Sprintf("%dms", r.Milliseconds())
	}
	if r := d.Round(100 * time.Millisecond); r < time.Minute {
		return fmt.Sprintf("%.1fs", r.Seconds())
	}
	if r := d.Round(time.Second); r < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(r/time.Minute), int(r%time.Minute/time.Second))
	}
	r := d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(r/time.Hour), int(r%time.Hour/time.Minute))
}

// ParseAge reads an age as people write one: a whole or decimal number
// and a unit, w (weeks), d (days), h, m or s, repeated ("30d", "12h",
// "1d12h", "1.5h"), or anything time.ParseDuration reads. A day is 24
// hours. Zero and negative ages are refused.
func ParseAge(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
	var total time.Duration
	rest := strings.TrimSpace(s)
	ok := rest != ""
	for ok && rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			ok = false
			break
		}
		unit, known := units[rest[i]]
		n, err := strconv.ParseFloat(rest[:i], 64)
		if !known || err != nil || (i+1 < len(rest) && rest[i] == 'm' && rest[i+1] == 's') {
			ok = false
			break
		}
		if n*float64(unit)+float64(total) >= float64(math.MaxInt64) {
			return 0, fmt.Errorf("%q is too long an age: at most about 290 years", s)
		}
		total += time.Duration(n * float64(unit))
		rest = rest[i+1:]
	}
	if !ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("%q is not an age: write a number and a unit, such as 30d, 12h or 90m", s)
		}
		total = d
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not an age: it must be more than nothing, such as 30d or 12h", s)
	}
	return total, nil
}
