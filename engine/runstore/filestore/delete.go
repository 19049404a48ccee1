package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// deletingPrefix names a run directory being removed (see Delete). No run
// id starts with a dot, so nothing reads it as a run.
const deletingPrefix = ".deleting-"

// Delete renames the run's directory out of the runs' namespace (one
// rename, synced: the moment the run is gone), then removes it. A crash
// before the rename leaves the run whole, one after it leaves a directory
// no command reads as a run, which the next listing removes (runIDs).
func (s *Store) Delete(ctx context.Context, l *runstore.Lease) error {
	s.mu.Lock()
	h := s.leases[l.Token]
	s.mu.Unlock()
	if h == nil || !isFileAt(h.f, h.path) {
		return fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	dir := s.RunDir(l.RunID)
	trash := filepath.Join(s.root, deletingPrefix+l.RunID+"-"+hex.EncodeToString(suffix[:]))
	if !renameWhileOpen {
		// Windows renames no directory with a file open in it: the run's
		// files are let go first, so another process may take the run in
		// the moment before the rename (and then finds it gone).
		s.forget(l)
	}
	hook("delete:begin", dir)
	if err := os.Rename(dir, trash); err != nil {
		s.forget(l)
		return fmt.Errorf("cannot delete run %s: %w", l.RunID, err)
	}
	syncErr := fsutil.SyncDir(s.root)
	hook("delete:renamed", trash)
	s.forget(l)
	if err := os.RemoveAll(trash); err != nil {
		// The run is gone all the same: what is left is swept later.
		return nil
	}
	if syncErr != nil {
		return fmt.Errorf("run %s was deleted, but %s could not be synced (after a crash it may be back): %w", l.RunID, s.root, syncErr)
	}
	return nil
}

// forget drops what this process holds of the run of lease l (its lock,
// open journal and log, cached state) without syncing anything: the run
// is going.
func (s *Store) forget(l *runstore.Lease) {
	dir := s.RunDir(l.RunID) + string(filepath.Separator)
	s.mu.Lock()
	h := s.leases[l.Token]
	delete(s.leases, l.Token)
	delete(s.prepared, l.RunID)
	delete(s.plans, l.RunID)
	delete(s.revs, l.RunID)
	delete(s.unsynced, l.RunID)
	var open []*appender
	for p, a := range s.appenders {
		if strings.HasPrefix(p, dir) {
			open = append(open, a)
			delete(s.appenders, p)
		}
	}
	for p := range s.healed {
		if strings.HasPrefix(p, dir) {
			delete(s.healed, p)
		}
	}
	for p := range s.tails {
		if strings.HasPrefix(p, dir) {
			delete(s.tails, p)
		}
	}
	for p := range s.readAt {
		if strings.HasPrefix(p, dir) {
			delete(s.readAt, p)
		}
	}
	s.mu.Unlock()
	for _, a := range open {
		a.mu.Lock()
		if a.f != nil {
			a.f.Close()
		}
		a.f, a.closed = nil, true
		a.mu.Unlock()
	}
	if h != nil {
		h.once.Do(func() {
			unlock(h.f)
			h.f.Close()
		})
	}
}

// sweepDeleting removes what a Delete that died part-way left.
func (s *Store) sweepDeleting(name string) {
	_ = os.RemoveAll(filepath.Join(s.root, name))
}
