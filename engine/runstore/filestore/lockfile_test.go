package filestore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A run's lock or holder file replaced by a symbolic link is refused, with
// what to do, and nothing is written through the link to what it points to.
func TestLinkedLockOrHolderIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file string }{
		{"lock", "lock"},
		{"holder", "holder"},
	} {
		for _, dangling := range []bool{false, true} {
			name := tc.name
			if dangling {
				name += "/dangling"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := New(t.TempDir())
				m := mkRun(t, s, "kr-linked00", time.Now())
				target := filepath.Join(t.TempDir(), "precious")
				if !dangling {
					if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				p := filepath.Join(s.RunDir(m.ID), tc.file)
				_ = os.Remove(p)
				if err := os.Symlink(target, p); err != nil {
					t.Skip("cannot make a symbolic link here:", err)
				}
				l, err := s.Acquire(bg, m.ID, runstore.Holder{Host: "here"}, 0)
				got, rerr := os.ReadFile(target)
				switch {
				case dangling && !errors.Is(rerr, os.ErrNotExist):
					t.Errorf("the link's target was made: %q, %v", got, rerr)
				case !dangling && string(got) != "keep me\n":
					t.Errorf("the link's target was written through: %q, %v", got, rerr)
				}
				if err == nil {
					_ = s.Release(bg, l)
					t.Fatal("a run whose " + tc.file + " is a link was taken")
				}
				if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, "symbolic link") || !strings.Contains(msg, "remove") {
					t.Errorf("error %q; want it to name %s, say it is a link and what to do", msg, p)
				}
				if tc.file == "lock" {
					if _, err := s.Holder(bg, m.ID); err == nil || !strings.Contains(err.Error(), "symbolic link") {
						t.Errorf("Holder of a run whose lock is a link = %v; want it refused", err)
					}
				}
				// Once the link is gone, the run is taken as before.
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if l, err = s.Acquire(bg, m.ID, runstore.Holder{}, 0); err != nil {
					t.Fatalf("acquire once the link is removed: %v", err)
				}
				_ = s.Release(bg, l)
			})
		}
	}
}

// A lock removed or replaced while its holder runs the run is no longer
// the run's lock (the next command makes and takes a new one): Renew says
// the lease was lost, so the holder stops instead of running beside it.
func TestRemovedLockLosesTheLease(t *testing.T) {
	t.Parallel()
	for _, replace := range []bool{false, true} {
		name := "removed"
		if replace {
			name = "replaced"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := New(t.TempDir())
			m := mkRun(t, s, "kr-rmlock00", time.Now())
			l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Release(bg, l)
			p := filepath.Join(s.RunDir(m.ID), "lock")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if replace {
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err = s.Renew(bg, l)
			if !errors.Is(err, runstore.ErrLeaseLost) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Renew after the lock was %s = %v; want the lease lost, naming %s", name, err, p)
			}
			// The second taker gets the run; the first one's release
			// leaves the new lock alone.
			l2, err := New(filepath.Dir(s.Root())).Acquire(bg, m.ID, runstore.Holder{}, 0)
			if err != nil {
				t.Fatalf("acquire of the new lock: %v", err)
			}
			_ = s.Release(bg, l)
			if h, err := s.Holder(bg, m.ID); err != nil || h == nil {
				t.Errorf("Holder after the old holder let go = %+v, %v; want the new holder", h, err)
			}
			_ = s.Release(bg, l2)
		})
	}
}

// A lock removed (and made again by another command) between Acquire's
// open and its lock is not the run's lock: Acquire takes the one at the
// path instead of holding a file nobody else can find.
func TestAcquireTakesTheLockAtThePath(t *testing.T) {
	s := New(t.TempDir())
	m := mkRun(t, s, "kr-rmlock01", time.Now())
	p := filepath.Join(s.RunDir(m.ID), "lock")
	removed := false
	CrashHook = func(point, path string) {
		if point == "lock:opened" && path == p && !removed {
			removed = true
			_ = os.Remove(p)
			_ = os.WriteFile(p, nil, 0o600)
		}
	}
	defer func() { CrashHook = nil }()
	l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(bg, l)
	if !removed {
		t.Fatal("the lock was not removed under Acquire")
	}
	if err := s.Renew(bg, l); err != nil {
		t.Fatalf("the lease Acquire returned holds no lock at %s: %v", p, err)
	}
	if _, err := New(filepath.Dir(s.Root())).Acquire(bg, m.ID, runstore.Holder{}, 0); !errors.As(err, new(*runstore.HeldError)) {
		t.Fatalf("a second Acquire = %v; want the run held", err)
	}
}

// A run's journal or log replaced by a symbolic link is refused when
// appended to, and nothing is written through the link.
func TestLinkedJournalOrLogIsRefused(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"journal.jsonl", "log.txt"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			s := New(t.TempDir())
			m := mkRun(t, s, "kr-linked01", time.Now())
			target := filepath.Join(t.TempDir(), "precious")
			if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(s.RunDir(m.ID), file)
			_ = os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				t.Skip("cannot make a symbolic link here:", err)
			}
			var err error
			if file == "log.txt" {
				err = s.AppendLog(bg, m.ID, runstore.LogLine{Text: "x"})
			} else {
				err = s.AppendEvents(bg, m.ID, runstore.Event{Type: runstore.EventRunStarted})
			}
			if got, _ := os.ReadFile(target); string(got) != "keep me\n" {
				t.Errorf("the link's target was written through: %q", got)
			}
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("append to a linked %s: %v; want it refused, naming it", file, err)
			}
		})
	}
}
