package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The contract each system's lock primitives keep (flock on Unix,
// LockFileEx on Windows): an exclusive lock excludes every other, shared
// locks admit each other, a refusal is told by lockBusy, unlocking frees
// the lock, and the pid written in the locked file stays readable.
func TestFileLockPrimitives(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		first, second bool // exclusive?
		wantBusy      bool
	}{
		{"exclusive then exclusive", true, true, true},
		{"exclusive then shared", true, false, true},
		{"shared then exclusive", false, true, true},
		{"shared then shared", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "lock")
			open := func() *os.File {
				f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			a, b := open(), open()
			if err := lockFile(a, tc.first); err != nil {
				t.Fatalf("first lock: %v", err)
			}
			if _, err := a.WriteAt([]byte("4242\n"), 0); err != nil {
				t.Fatal(err)
			}
			if pid := readPID(p); pid != 4242 {
				t.Errorf("the pid in a locked file reads as %d, want 4242", pid)
			}
			err := lockFile(b, tc.second)
			if busy := lockBusy(err); busy != tc.wantBusy {
				t.Fatalf("second lock: %v (busy %v), want busy %v", err, busy, tc.wantBusy)
			}
			if !tc.wantBusy && err != nil {
				t.Fatalf("second lock: %v", err)
			}
			if tc.wantBusy {
				unlockFile(a)
				if err := lockFile(b, tc.second); err != nil {
					t.Fatalf("lock after the holder unlocked: %v", err)
				}
			}
		})
	}
}

func TestProcessAlive(t *testing.T) {
	t.Parallel()
	gone := exec.Command(os.Args[0], "-test.run=^$")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), true},
		{"an ended child", gone.Process.Pid, false},
		{"no pid written", 0, false},
	} {
		if got := processAlive(tc.pid); got != tc.want {
			t.Errorf("%s: processAlive(%d) = %v, want %v", tc.name, tc.pid, got, tc.want)
		}
	}
}
