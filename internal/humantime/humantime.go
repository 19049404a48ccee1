// Package humantime writes durations the one way kitaru shows them to
// people, in the live view, the records and the log lines alike: 629ms,
// 1.2s, 2m03s, 1h02m (Go's own form, 1m30.5s or 0s, is for programs).
package humantime

import (
	"fmt"
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
