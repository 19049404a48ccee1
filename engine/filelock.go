package engine

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The run lock is a lock on the run's lock file that the operating system
// frees when its holder dies. The parts that differ by system live in
// filelock_unix.go (flock) and filelock_windows.go (LockFileEx):
//
//	lockFile(f, exclusive) error   take f's lock without waiting
//	lockBusy(err) bool             the error lockFile gives when another holds it
//	unlockFile(f)                  release it
//	processAlive(pid) bool         whether pid names a live process

// holdLock writes this process's pid into the locked file f and returns
// what releases the lock.
func holdLock(f *os.File) func() {
	// The pid is only for the message others see.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = f.Truncate(0)
			unlockFile(f)
			f.Close()
		})
	}
}

// tryLock takes f's lock at once or fails.
func tryLock(f *os.File) error {
	return lockFile(f, true)
}

// lockSettle bounds the wait for the lock of a holder that has died.
var lockSettle = time.Second

// lockSettled takes the lock without blocking, but a lock whose holder
// (the pid in the file) is dead is waited for, briefly: a kitaru killed
// while forking a step's command leaves the lock shared with the half-made
// child for the few milliseconds until it execs (closing the descriptor),
// and Windows frees a dead process's locks a moment after it dies.
// Without the wait, a resume right after a kill -9 would be refused in the
// name of a process that no longer exists.
func lockSettled(f *os.File, exclusive bool, p string) error {
	deadline := time.Now().Add(lockSettle)
	for {
		err := lockFile(f, exclusive)
		if !lockBusy(err) || processAlive(readPID(p)) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func readPID(p string) int {
	data, err := readRegular(p)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}
