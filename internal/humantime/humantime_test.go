package humantime

import (
	"strings"
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

func TestParseAge(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30d", 30 * day, ""},
		{"12h", 12 * time.Hour, ""},
		{"2w", 14 * day, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1.5h", 90 * time.Minute, ""},
		{" 90m ", 90 * time.Minute, ""},
		{"45s", 45 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"", 0, "not an age"},
		{"30", 0, "not an age"},
		{"d", 0, "not an age"},
		{"30x", 0, "not an age"},
		{"-3d", 0, "not an age"},
		{"0d", 0, "more than nothing"},
		{"999999999d", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseAge(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
