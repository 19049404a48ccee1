package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// A lease on a run is its lock file, locked (flock on unix, LockFileEx on
// windows) by the process running it and holding its holder. The kernel
// frees the lock when the holder dies, however it dies, so a file store
// lease never expires by time and needs no renewal.

// heldLock is the open, locked lock file of a lease of this process.
type heldLock struct {
	f    *os.File
	run  string
	once sync.Once
}

// hold records holder in the locked file f and returns the lease.
func (s *Store) hold(id string, f *os.File, holder runstore.Holder) *runstore.Lease {
	// The lock is this process's, whatever holder says: its pid is what
	// tells a lock that is settling (see lockSettled) from a live one.
	holder.PID = os.Getpid()
	// The pid is only for what others are told; written bare, as older
	// versions of kitaru read it.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(holder.PID)+"\n"), 0)
	if data, err := json.Marshal(holder); err == nil {
		_ = os.WriteFile(filepath.Join(s.RunDir(id), "holder"), data, fsutil.FilePerm)
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	l := &runstore.Lease{RunID: id, Holder: holder, Token: hex.EncodeToString(tok[:])}
	s.mu.Lock()
	s.leases[l.Token] = &heldLock{f: f, run: id}
	s.mu.Unlock()
	return l
}

// Acquire takes the run's lock; the kernel frees it when the holder dies,
// which is how a stale lock is taken over. ttl is not needed.
func (s *Store) Acquire(ctx context.Context, id string, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	if _, err := os.Stat(s.RunDir(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("run %s: %w", id, runstore.ErrNotFound)
		}
		return nil, fmt.Errorf("cannot lock run %s: %w", id, err)
	}
	p := filepath.Join(s.RunDir(id), "lock")
	f, err := openLock(p, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock %s: %w", p, err)
	}
	if err := lockSettled(ctx, f, p, true); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &runstore.HeldError{RunID: id, Holder: readHolder(p)}
		}
		return nil, fmt.Errorf("cannot lock %s: %w", p, err)
	}
	return s.hold(id, f, holder), nil
}

// Renew checks the lease is still this process's: the lock cannot be lost
// while its file is open.
func (s *Store) Renew(ctx context.Context, l *runstore.Lease) error {
	s.mu.Lock()
	_, ok := s.leases[l.Token]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	return nil
}

// Release syncs the run's journal and log (see AppendEvents), then empties
// and unlocks the lock file. Releasing twice is harmless.
func (s *Store) Release(ctx context.Context, l *runstore.Lease) error {
	if l == nil {
		return nil
	}
	s.mu.Lock()
	h := s.leases[l.Token]
	delete(s.leases, l.Token)
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	err := s.syncJournal(l.RunID)
	// What this process kept of the run is not needed once it lets the
	// run go: a long-lived process (a server) would keep it for every run.
	s.mu.Lock()
	delete(s.prepared, l.RunID)
	delete(s.plans, l.RunID)
	s.mu.Unlock()
	h.once.Do(func() {
		_ = h.f.Truncate(0)
		unlock(h.f)
		h.f.Close()
	})
	return err
}

// lockSettle bounds the wait for the lock of a holder that has died.
var lockSettle = time.Second

// lockSettled takes the lock (exclusive, or shared to test it) without
// blocking, but a lock whose holder (the pid in the file) is dead is
// waited for, briefly: a kitaru killed while forking a step's command
// leaves the lock shared with the half-made child for the few milliseconds
// until it execs (closing the descriptor). Without the wait, a resume
// right after a kill -9 would be refused in the name of a process that no
// longer exists.
func lockSettled(ctx context.Context, f *os.File, p string, exclusive bool) error {
	deadline := time.Now().Add(lockSettle)
	for {
		err := tryLockAs(f, exclusive)
		if !errors.Is(err, errLocked) || processAlive(readHolder(p).PID) || time.Now().After(deadline) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tryLock takes f's exclusive lock at once or fails.
func tryLock(f *os.File) error { return tryLockAs(f, true) }

// readHolder reads who holds a lock file: its pid, in the lock as older
// versions of kitaru wrote and read it, and the rest of the holder from
// the file beside it when it names the same process.
func readHolder(p string) runstore.Holder {
	data, err := readRegular(p)
	if err != nil {
		return runstore.Holder{}
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	var h runstore.Holder
	if more, err := readRegular(filepath.Join(filepath.Dir(p), "holder")); err == nil && json.Unmarshal(more, &h) == nil && h.PID == pid {
		return h
	}
	return runstore.Holder{PID: pid}
}

// Holder reports who holds the run's lock, if anyone does.
func (s *Store) Holder(ctx context.Context, id string) (*runstore.Holder, error) {
	p := filepath.Join(s.RunDir(id), "lock")
	f, err := openLock(p, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock %s: %w", p, err)
	}
	defer f.Close()
	if err := lockSettled(ctx, f, p, false); err != nil {
		if errors.Is(err, errLocked) {
			h := readHolder(p)
			return &h, nil
		}
		return nil, fmt.Errorf("cannot check the lock %s: %w", p, err)
	}
	unlock(f)
	return nil, nil
}

// RequestCancel writes the cancel file.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	return fsutil.WriteFileAtomic(filepath.Join(s.RunDir(id), "cancel"), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"))
}

// CancelRequested tells whether the cancel file exists.
func (s *Store) CancelRequested(ctx context.Context, id string) (bool, error) {
	_, err := os.Stat(filepath.Join(s.RunDir(id), "cancel"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// ClearCancel removes the cancel file.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	err := os.Remove(filepath.Join(s.RunDir(id), "cancel"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// openLock opens a run's lock file without waiting on it: a named pipe (or
// anything but a regular file) put in its place is refused, not waited on
// (which would hang every command that looks at the run).
func openLock(p string, flag int) (*os.File, error) {
	f, err := os.OpenFile(p, flag|openNonblock, fsutil.FilePerm)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, errNotRegular)
	}
	return f, nil
}
