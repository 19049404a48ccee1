//go:build unix

package engine

import (
	"os"
	"syscall"
)

// What the tests do to processes and files in a way only Unix has. The
// Windows versions (ostest_windows_test.go) let the tests compile there.

// sigkill kills process pid, never 0 or below: kill(0) is the caller's own
// process group, which holds go test and the shell that started it.
func sigkill(pid int) {
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

// maxRSSMB is the most memory this process has had resident (Linux counts
// ru_maxrss in KiB).
func maxRSSMB() (float64, bool) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024, true
}

// lockFile takes f's lock as the file store does (flock).
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }
