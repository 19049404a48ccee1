package pgtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The harness itself: a cluster starts, answers, stops and comes back.
func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	query := func() (string, error) {
		out, err := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-At", s.URL(), "-c", "select 40+2").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if got, err := query(); err != nil || got != "42" {
		t.Fatalf("query on a fresh server = %q, %v; want 42", got, err)
	}
	s.Stop(t)
	if _, err := query(); err == nil {
		t.Fatal("a stopped server still answered")
	}
	s.Restart(t)
	if got, err := query(); err != nil || got != "42" {
		t.Fatalf("query after a restart = %q, %v; want 42", got, err)
	}
	other := s.DatabaseURL(t, "second")
	if out, err := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-At", other, "-c", "select current_database()").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "second" {
		t.Fatalf("second database: %s %v", out, err)
	}
}
