//go:build unix

package filestore

import (
	"errors"
	"os"
	"syscall"
)

// openNonblock opens a named pipe without waiting for a writer.
const openNonblock = syscall.O_NONBLOCK

// openNoFollow refuses to open a symbolic link (ELOOP on Linux and macOS).
const openNoFollow = syscall.O_NOFOLLOW

// renameWhileOpen: a directory is renamed with its files open.
const renameWhileOpen = true

// errLocked is a lock held by another.
var errLocked = syscall.EWOULDBLOCK

func tryLockAs(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// processAlive says whether pid names a live process (0: unknown, not yet
// written, counts as dead).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
