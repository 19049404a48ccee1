// Package fsutil holds the few file-system primitives every kitaru package
// shares: where state and config live, and durable atomic writes.
package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Permissions for everything kitaru writes: private to the user.
const (
	DirPerm  os.FileMode = 0o700
	FilePerm os.FileMode = 0o600
)

// DataDir is where runs live: $KITARU_HOME, else $XDG_DATA_HOME/kitaru,
// else ~/.local/share/kitaru.
func DataDir() (string, error) {
	if d := os.Getenv("KITARU_HOME"); d != "" {
		return d, nil
	}
	return xdgDir("XDG_DATA_HOME", ".local/share")
}

// ConfigDir is where aliases and secret names live: $XDG_CONFIG_HOME/kitaru,
// else ~/.config/kitaru.
func ConfigDir() (string, error) {
	return xdgDir("XDG_CONFIG_HOME", ".config")
}

func xdgDir(envVar, fallback string) (string, error) {
	if d := os.Getenv(envVar); d != "" {
		return filepath.Join(d, "kitaru"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find your home directory to keep kitaru's files (set %s or HOME): %w", envVar, err)
	}
	return filepath.Join(home, fallback, "kitaru"), nil
}

// WriteFileAtomic replaces path with data so that a reader sees either the
// old or the new content, never a mix, and the new content survives a crash
// once it returns: temp file, fsync, rename, fsync the directory.
func WriteFileAtomic(path string, data []byte) error {
	return WriteFileAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileAtomicFunc is WriteFileAtomic for content that write produces
// into the temporary file, so that a big record need not be held twice.
func WriteFileAtomicFunc(path string, write func(io.Writer) error) error {
	if err := writeSynced(path, write); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// ReplaceFileSynced is WriteFileAtomic but for the directory: the new
// content is durable once it returns, and the caller syncs the directory
// (SyncDir) before it counts on the new name, so that files written
// together into one directory sync it once.
func ReplaceFileSynced(path string, data []byte) error {
	return writeSynced(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeSynced writes path's new content beside it, syncs it and renames
// it into place.
func writeSynced(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirPerm); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmpName)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Chmod(FilePerm); err != nil {
		return fail(err)
	}
	if err := write(tmp); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory so that entries created or renamed in it
// survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

// Together runs independent durable writes at once and joins their errors:
// the file system commits fsyncs that arrive together in one go, so three
// files synced together cost about what one does, where one after another
// they cost three.
func Together(writes ...func() error) error {
	if len(writes) == 1 {
		return writes[0]()
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { errs[i] = w() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ReplaceFileSyncedFunc is ReplaceFileSynced for content that write
// produces into the temporary file.
func ReplaceFileSyncedFunc(path string, write func(io.Writer) error) error {
	return writeSynced(path, write)
}

// DirSyncs shares directory syncs between goroutines that ask for the same
// directory at once (group commit): each asker waits for a sync that began
// after it asked, and one sync answers all who asked while the one before
// it ran, so sixteen records renamed into one directory together cost two
// syncs of it, not sixteen. The zero value is ready to use.
type DirSyncs struct {
	mu   sync.Mutex
	dirs map[string]*dirSync
	sync func(dir string) error // SyncDir; a test's stand-in
}

type dirSync struct {
	started, done uint64 // syncs begun and ended, in order
	running       bool
	err           error // of the last sync that ended
	askers        int
	ended         *sync.Cond
}

// SyncDir returns once a sync of dir that began after the call has ended.
func (g *DirSyncs) SyncDir(dir string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dirs == nil {
		g.dirs = map[string]*dirSync{}
	}
	d := g.dirs[dir]
	if d == nil {
		d = &dirSync{ended: sync.NewCond(&g.mu)}
		g.dirs[dir] = d
	}
	d.askers++
	defer func() {
		if d.askers--; d.askers == 0 && !d.running {
			delete(g.dirs, dir)
		}
	}()
	need := d.started + 1 // the one running, if any, may have begun before
	for d.done < need {
		if d.running {
			d.ended.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		g.mu.Unlock()
		sync := g.sync
		if sync == nil {
			sync = SyncDir
		}
		err := sync(dir)
		g.mu.Lock()
		d.running, d.done, d.err = false, n, err
		d.ended.Broadcast()
	}
	return d.err
}
