//go:build windows

package filestore

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// openNonblock: Windows has no named pipes in the file system's place of a
// record, so opening never waits.
const openNonblock = 0

// openNoFollow: Windows has no O_NOFOLLOW; openRunFile checks for a link
// (a reparse point) itself.
const openNoFollow = 0

// renameWhileOpen: Windows refuses to rename a directory a file in which
// is open (Go opens files without FILE_SHARE_DELETE).
const renameWhileOpen = false

// lockOffset is the byte locked: far past the pid written at the start,
// since a Windows lock also bars others from reading the bytes it covers.
const lockOffset = 1 << 30

// errLocked is a lock held by another.
var errLocked = windows.ERROR_LOCK_VIOLATION

// tryLockAs takes f's lock with LockFileEx, which Windows frees when the
// holder dies, as flock is freed on unix.
func tryLockAs(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &windows.Overlapped{Offset: lockOffset})
	if errors.Is(err, windows.ERROR_IO_PENDING) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &windows.Overlapped{Offset: lockOffset})
}

// processAlive says whether pid names a live process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if windows.GetExitCodeProcess(h, &code) != nil {
		return true
	}
	const stillActive = 259
	return code == stillActive
}
