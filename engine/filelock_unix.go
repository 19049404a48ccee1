//go:build unix

package engine

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes f's flock(2), exclusive or shared, without waiting.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
}

// lockBusy says whether err is lockFile failing because another holds the lock.
func lockBusy(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// processAlive says whether pid names a live process (0: unknown, not yet
// written, counts as dead).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
