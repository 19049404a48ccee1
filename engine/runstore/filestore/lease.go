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
// lease never expires by time. It is lost only when its file is no longer
// the run's lock (removed, or replaced): Renew checks that.

// heldLock is the open, locked lock file of a lease of this process, and
// the path it was locked at.
type heldLock struct {
	f    *os.File
	path string
	run  string // the run's id
	// cancelSeen is the run's cancel file as it was before the lock was
	// taken ("": none): a request of an earlier go, not for this lease.
	cancelSeen string
	once       sync.Once
}

// hold records holder in the locked file f and returns the lease;
// cancelSeen is the cancel file read before f was locked. It fails only
// when the holder file is a link (see openRunFile); the caller then lets
// the lock go.
func (s *Store) hold(id string, f *os.File, holder runstore.Holder, cancelSeen string) (*runstore.Lease, error) {
	// The lock is this process's, whatever holder says: its pid is what
	// tells a lock that is settling (see lockSettled) from a live one.
	holder.PID = os.Getpid()
	if data, err := json.Marshal(holder); err == nil {
		if err := writeHolder(filepath.Join(s.RunDir(id), "holder"), data); errors.As(err, new(*linkError)) {
			return nil, err
		}
	}
	// The pid is only for what others are told; written bare, as older
	// versions of kitaru read it.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(holder.PID)+"\n"), 0)
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	l := &runstore.Lease{RunID: id, Holder: holder, Token: hex.EncodeToString(tok[:])}
	s.mu.Lock()
	s.leases[l.Token] = &heldLock{f: f, path: filepath.Join(s.RunDir(id), "lock"), run: id, cancelSeen: cancelSeen}
	s.mu.Unlock()
	return l, nil
}

// writeHolder replaces the holder file's content, not through a link.
func writeHolder(p string, data []byte) error {
	f, err := openRunFile(p, os.O_WRONLY|os.O_CREATE, "holder file")
	if err != nil {
		return fmt.Errorf("cannot write the holder file %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.Write(data)
	return err
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
	// Read before the lock is taken: a request made after this may be of
	// the go that just ended, but it is not lost (see CancelRequested).
	seen := s.cancelStamp(id)
	for range lockTries {
		f, err := openRunFile(p, os.O_RDWR|os.O_CREATE, "lock")
		if err != nil {
			return nil, fmt.Errorf("cannot open the lock %s: %w", p, err)
		}
		hook("lock:opened", p)
		if err := lockSettled(ctx, f, p, true); err != nil {
			f.Close()
			if errors.Is(err, errLocked) {
				return nil, &runstore.HeldError{RunID: id, Holder: readHolder(p)}
			}
			return nil, fmt.Errorf("cannot lock %s: %w", p, err)
		}
		// The file locked may have been removed (and another made) since
		// it was opened: a lock nobody else can find is no lock.
		if !isFileAt(f, p) {
			unlock(f)
			f.Close()
			continue
		}
		l, err := s.hold(id, f, holder, seen)
		if err != nil {
			unlock(f)
			f.Close()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("cannot lock %s: it was removed or replaced each time it was opened; is something else deleting it?", p)
}

// lockTries bounds how often Acquire opens a lock removed under it.
const lockTries = 10

// isFileAt says whether the open file f is still the one at path p.
func isFileAt(f *os.File, p string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	at, err := os.Lstat(p)
	return err == nil && os.SameFile(held, at)
}

// Renew checks the lease is still this process's: its lock is not lost
// while its file is open and still the run's lock. A lock removed (rm) or
// replaced is: the next command makes a new one and takes the run.
func (s *Store) Renew(ctx context.Context, l *runstore.Lease) error {
	s.mu.Lock()
	h, ok := s.leases[l.Token]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	if !isFileAt(h.f, h.path) {
		return fmt.Errorf("run %s: its lock %s was removed or replaced while this process held it: %w", l.RunID, h.path, runstore.ErrLeaseLost)
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
	f, err := openRunFile(p, os.O_RDONLY, "lock")
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

// A cancel request is the cancel file, holding when it was made and a
// random stamp: a lease notes the file as it was before its lock was
// taken, and only a different one (a request made since) is for it.

// RequestCancel writes a new cancel file.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	var stamp [8]byte
	_, _ = rand.Read(stamp[:])
	data := time.Now().UTC().Format(time.RFC3339Nano) + " " + hex.EncodeToString(stamp[:]) + "\n"
	return fsutil.WriteFileAtomic(filepath.Join(s.RunDir(id), "cancel"), []byte(data))
}

// cancelStamp is the run's cancel file ("": none, or unreadable).
func (s *Store) cancelStamp(id string) string {
	data, err := readRegular(filepath.Join(s.RunDir(id), "cancel"))
	if err != nil {
		return ""
	}
	return string(data)
}

// CancelRequested tells whether the cancel file was written since l's
// lock was taken.
func (s *Store) CancelRequested(ctx context.Context, l *runstore.Lease) (bool, error) {
	s.mu.Lock()
	h, ok := s.leases[l.Token]
	s.mu.Unlock()
	if !ok {
		return false, fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	data, err := readRegular(filepath.Join(s.RunDir(l.RunID), "cancel"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(data) != h.cancelSeen, nil
}

// ClearCancel removes the cancel file.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	err := os.Remove(filepath.Join(s.RunDir(id), "cancel"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// openRunFile opens a run's lock or holder file (what names it in the
// error about a link) without waiting on it and without following a link:
// a named pipe (or anything but a regular file) put in its place is
// refused, not waited on (which would hang every command that looks at the
// run), and a symbolic link is refused, not written through (which would
// change the file it points to, or make it).
func openRunFile(p string, flag int, what string) (*os.File, error) {
	if openNoFollow == 0 {
		// No O_NOFOLLOW (Windows): a link is refused before the open, so
		// that a dangling one's target is not made, and after it (isFileAt).
		if err := refuseLink(p, what); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(p, flag|openNonblock|openNoFollow, fsutil.FilePerm)
	if err != nil {
		if lerr := refuseLink(p, what); lerr != nil {
			return nil, lerr
		}
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, errNotRegular)
	}
	if openNoFollow == 0 && !isFileAt(f, p) {
		f.Close()
		if err := refuseLink(p, what); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s was replaced as it was opened", p)
	}
	return f, nil
}

// linkError is a run's lock or holder file that is a symbolic link (or, on
// Windows, another reparse point); makes is what kitaru makes in its place.
type linkError struct{ makes string }

func (e *linkError) Error() string {
	return "it is a symbolic link, which kitaru does not follow (writing through it would change the file it points to): remove the link and run the command again; kitaru makes a new " + e.makes
}

// refuseLink is a linkError when p is a link.
func refuseLink(p, what string) error {
	if st, err := os.Lstat(p); err == nil && st.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		return &linkError{makes: what}
	}
	return nil
}
