// Package filestore is the run store kept as plain files under the data
// directory: the embedded default backend of runstore.Store. Each run is a
// directory, <data dir>/runs/<run-id>/:
//
//	run.json             the run's meta (status, inputs, registry, times, ...)
//	plan.json            its steps in order, and the steps a replay reused
//	flow.yaml            the flow snapshot the run executes
//	flow.<n>.yaml, plan.<n>.json   the n-th edited flow and its plan (retry --flow; run.json's flow_rev names the one in force)
//	journal.jsonl        one event per line, append-only
//	log.txt              stdout/stderr of the run's steps, secrets redacted
//	lock                 flock(2)ed by the process running the run; holds its holder
//	cancel               present when someone asked the run to stop
//	steps/<id>/result.json, items/<n>.json, and the step's artifacts
//
// Beside the runs, runs/.index lists what a query sorts and filters them
// by (see index.go): a cache, checked against each run.json, never needed.
//
// Every record is replaced atomically (written beside, synced, renamed), so
// a crash leaves the old record or the new one, never a torn one.
package filestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// Store keeps runs as files under a root directory.
type Store struct {
	root string

	mu       sync.Mutex
	healed   map[string]bool                // appended files whose torn tail was already fenced off
	prepared map[string]*prepared           // runs whose step directories this process made durable
	leases   map[string]*heldLock           // lease token -> the lock file held
	tails    map[string]tail                // appended file -> its line count at a size
	readAt   map[string]readPos             // appended file -> where the last read stopped
	plans    map[string][]runstore.PlanStep // plans of runs created here, for prepare
	revs     map[string]flowRevSeen         // the flow revision each run.json read named
	unsynced map[string]map[string]bool     // directories left to sync at the release, by run
	// appenders are the journals and logs of the runs leased here, kept
	// open (see appender); appendMu serializes the appends of the others.
	appenders map[string]*appender
	appendMu  sync.Mutex
	// dirSyncs shares the syncs of a directory that records are renamed
	// into together (a foreach's items finishing at once).
	dirSyncs fsutil.DirSyncs
}

// New keeps runs under dataDir/runs.
func New(dataDir string) *Store {
	return &Store{
		root:     filepath.Join(dataDir, "runs"),
		healed:   map[string]bool{},
		prepared: map[string]*prepared{},
		leases:   map[string]*heldLock{},
		tails:    map[string]tail{},
		readAt:   map[string]readPos{},
		plans:    map[string][]runstore.PlanStep{},
		revs:     map[string]flowRevSeen{},
		unsynced: map[string]map[string]bool{},

		appenders: map[string]*appender{},
	}
}

// Default keeps runs under fsutil.DataDir().
func Default() (*Store, error) {
	d, err := fsutil.DataDir()
	if err != nil {
		return nil, err
	}
	return New(d), nil
}

var _ runstore.Store = (*Store)(nil)

// Root is the directory holding every run.
func (s *Store) Root() string { return s.root }

// RunDir is where a run's files are.
func (s *Store) RunDir(id string) string {
	if plainName(id) {
		return s.root + string(filepath.Separator) + id
	}
	return filepath.Join(s.root, id)
}

// StepDir is where a step's record, artifacts and items are.
func (s *Store) StepDir(id, step string) string {
	if plainName(id) && plainName(step) {
		const sep = string(filepath.Separator)
		return s.root + sep + id + sep + "steps" + sep + step
	}
	return filepath.Join(s.root, id, "steps", step)
}

// plainName says whether name is one path element that filepath.Join
// leaves as it is (as run and step ids are), so that a path is made by
// putting it after a separator, without cleaning the whole path again: a
// record of a long run names every step's directory.
func plainName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '/' || c == '\\' || c == 0 {
			return false
		}
	}
	return true
}

// CrashHook, when set (only by tests, in a child process about to be
// killed), is called at named points around record writes so that a crash
// can be placed exactly; path is the record being written, if any.
var CrashHook func(point, path string)

func hook(point, path string) {
	if CrashHook != nil {
		CrashHook(point, path)
	}
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// NewID makes a fresh id: "kr-" and 8 random characters of [0-9a-z]
// (about 41 bits), retried on the rare collision with an existing run.
func (s *Store) NewID(ctx context.Context) (string, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("cannot make a run id: %w", err)
		}
		for i := range b {
			b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
		}
		id := "kr-" + string(b[:])
		if _, err := os.Lstat(s.RunDir(id)); errors.Is(err, fs.ErrNotExist) {
			return id, nil
		}
	}
	return "", errors.New("cannot make a run id: every try collided with an existing run")
}

// damaged is a DamagedError about a file of run id.
func (s *Store) damaged(id string, part runstore.Part, path, problem string) *runstore.DamagedError {
	return &runstore.DamagedError{RunID: id, Part: part, Where: path, Home: s.RunDir(id), Problem: problem}
}

// stepDamaged is a DamagedError about a step's (item < 0) or an item's record.
func (s *Store) stepDamaged(id, step string, item int, path, problem string) *runstore.DamagedError {
	de := s.damaged(id, runstore.PartStep, path, problem)
	de.Step = step
	if item >= 0 {
		de.Part, de.Item = runstore.PartItem, item
	}
	return de
}

// mkdirDurable creates dir (0700) and fsyncs its parent so the new entry
// survives a crash.
func mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, fsutil.DirPerm); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	return fsutil.SyncDir(filepath.Dir(dir))
}

// writeJSON writes v atomically, indented or compact (run.json of a big
// flow is compact: it is rewritten as the run starts and ends).
func writeJSON(path string, v any, indent bool) error {
	if err := replaceJSON(path, v, indent); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// writeJSONShared is writeJSON for a record of a directory that others
// are written into at the same time: its directory's sync is shared.
func (s *Store) writeJSONShared(path string, v any, indent bool) error {
	if err := replaceJSON(path, v, indent); err != nil {
		return err
	}
	return s.dirSyncs.SyncDir(filepath.Dir(path))
}

// replaceJSON writes v in path's place, synced, but not its directory.
func replaceJSON(path string, v any, indent bool) error {
	if !indent {
		// Encoded straight into the file: a big record is not copied.
		return fsutil.ReplaceFileSyncedFunc(path, func(w io.Writer) error {
			if err := json.NewEncoder(w).Encode(v); err != nil {
				return fmt.Errorf("cannot encode it: %w", err)
			}
			return nil
		})
	}
	data, err := encodeJSON(path, v, indent)
	if err != nil {
		return err
	}
	return fsutil.ReplaceFileSynced(path, data)
}

// indentMax is the largest record written indented: a bigger one (a step
// with a long output) is written compact, since indenting copies it again.
const indentMax = 1 << 20

// bigOutput says whether a record holding output is written compact.
func bigOutput(out any) bool {
	s, ok := out.(string)
	return ok && len(s) > indentMax
}

func encodeJSON(path string, v any, indent bool) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %s: %w", path, err)
	}
	if !indent || len(data) > indentMax {
		return append(data, '\n'), nil
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(data)/4 + 1)
	if err := json.Indent(&b, data, "", "  "); err != nil {
		return nil, fmt.Errorf("cannot encode %s: %w", path, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// errNotRegular is a record that is a named pipe, a device or a directory.
var errNotRegular = errors.New("not a regular file")

// readJSON reads path into v. A missing file returns an error wrapping
// fs.ErrNotExist; a damaged one, the problem to report (what damage
// makes of it).
func readJSON(path string, v any) (problem string, err error) {
	data, err := readRegular(path)
	if errors.Is(err, errNotRegular) {
		return "is not a regular file", nil
	}
	if err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "is empty", nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Sprintf("is damaged (%v)", err), nil
	}
	return "", nil
}

// readRegular is os.ReadFile for the files of a run, which must be regular
// files: a named pipe put in a record's place would block the open (and a
// command that lists every run) until something writes to it, so it is
// opened without waiting and refused.
func readRegular(path string) ([]byte, error) {
	f, size, err := openRegularSize(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read into a buffer of its size (and a byte more, to see the end), as
	// os.ReadFile does, not one grown from 512 bytes: a big run's records
	// are read whole by every replay of it.
	data := make([]byte, 0, size+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // it grew since
		}
	}
}

// openRegular opens a run's file for reading, refusing one that is not a
// regular file without blocking on it.
func openRegular(path string) (*os.File, error) {
	f, _, err := openRegularSize(path)
	return f, err
}

// openRegularSize is openRegular that also says how big the file is.
func openRegularSize(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return f, st.Size(), nil
}

// writeDurable writes a new file and fsyncs it; for the files of a run
// being created, which nobody sees until its directory is renamed into
// place, so no file of its own needs an atomic replace.
func writeDurable(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fsutil.FilePerm)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// Locate is where a run, a step or one of their files is.
func (s *Store) Locate(id, step, name string) string {
	dir := s.StepDir(id, step)
	if step == "" {
		dir = s.RunDir(id)
	}
	if name == "" {
		return dir
	}
	return filepath.Join(dir, name)
}

// ProcessNotes is a place on this machine laid out as a file store's runs,
// for a store that keeps no files (a shared database): the engine notes
// there the process groups of the commands this machine runs (see
// engine.Config.ProcessNotes). Nothing else is kept in it.
func ProcessNotes(dir string) runstore.Locator { return processNotes{New(dir)} }

type processNotes struct{ *Store }

// Tidy removes the directories of run id that are empty, deepest first:
// a note goes when its command ends, and the directories made for it
// would otherwise pile up, a few for every run. One that holds a note (a
// command still running, or left running by a kitaru killed) stays.
func (n processNotes) Tidy(id string) {
	var dirs []string
	_ = filepath.WalkDir(n.RunDir(id), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // refused for one that is not empty
	}
}
