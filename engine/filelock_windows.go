//go:build windows

package engine

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Windows locks are mandatory: a locked byte cannot be read through any
// other handle. The lock covers one byte far past the pid the file holds,
// so others can still read who holds it.
const lockOffset = 1 << 30

// lockFile takes a LockFileEx lock on f, exclusive or shared, without waiting.
func lockFile(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := windows.Overlapped{Offset: lockOffset}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &ol)
}

// lockBusy says whether err is lockFile failing because another holds the lock.
func lockBusy(err error) bool { return errors.Is(err, windows.ERROR_LOCK_VIOLATION) }

func unlockFile(f *os.File) {
	ol := windows.Overlapped{Offset: lockOffset}
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// stillActive is the exit code GetExitCodeProcess gives a running process.
const stillActive = 259

// processAlive says whether pid names a live process (0: unknown, not yet
// written, counts as dead).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Someone else's process: it exists.
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	defer windows.CloseHandle(h)
	// A handle opens for a process that has ended while others hold one.
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
