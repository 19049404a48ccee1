package humantime

import (
	"testing"
	"time"
)

// One duration format for people, the live view and the records alike.
func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0ms"},
		{0, "0ms"},
		{340 * time.Microsecond, "0ms"},
		{629 * time.Millisecond, "629ms"},
		{999*time.Millisecond + 700*time.Microsecond, "1.0s"},
		{1200 * time.Millisecond, "1.2s"},
		{3249 * time.Millisecond, "3.2s"},
		{12345 * time.Millisecond, "12.3s"},
		{59970 * time.Millisecond, "1m00s"},
		{123 * time.Second, "2m03s"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h00m"},
		{62*time.Minute + 10*time.Second, "1h02m"},
		{26*time.Hour + 5*time.Minute, "26h05m"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
