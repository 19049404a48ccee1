package engine

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// FileStore keeps runs as plain files under <data dir>/runs/<run-id>/:
//
//	run.json             the run's meta (status, inputs, registry, times, ...)
//	plan.json            its steps in order, and the steps a replay reused
//	flow.yaml            the flow snapshot the run executes
//	journal.jsonl        one event per line, append-only
//	log.txt              stdout/stderr of the run's steps, secrets redacted
//	lock                 locked by the process running the run (filelock.go); holds its pid
//	cancel               present when someone asked the run to stop
//	steps/<id>/result.json, items/<n>.json, prompt.json, response.txt
type FileStore struct {
	root string

	mu      sync.Mutex
	healed  map[string]bool // journals whose torn tail was already fenced off
	logMu   sync.Mutex
	journMu sync.Mutex
}

// NewFileStore keeps runs under dataDir/runs.
func NewFileStore(dataDir string) *FileStore {
	return &FileStore{root: filepath.Join(dataDir, "runs"), healed: map[string]bool{}}
}

// DefaultFileStore keeps runs under fsutil.DataDir().
func DefaultFileStore() (*FileStore, error) {
	d, err := fsutil.DataDir()
	if err != nil {
		return nil, err
	}
	return NewFileStore(d), nil
}

// Root is the directory holding every run.
func (s *FileStore) Root() string { return s.root }

func (s *FileStore) runDir(id string) string { return filepath.Join(s.root, id) }

// StepDir is where a step's record, artifacts and items are.
func (s *FileStore) StepDir(id, step string) string {
	return filepath.Join(s.root, id, "steps", step)
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// NewID makes a fresh id: "kr-" and 8 random characters of [0-9a-z]
// (about 41 bits), retried on the rare collision with an existing run.
func (s *FileStore) NewID() (string, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("cannot make a run id: %w", err)
		}
		for i := range b {
			b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
		}
		id := "kr-" + string(b[:])
		if _, err := os.Stat(s.runDir(id)); errors.Is(err, fs.ErrNotExist) {
			return id, nil
		}
	}
	return "", errors.New("cannot make a run id: every try collided with an existing run")
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

func writeJSON(path string, v any) error {
	return writeJSONAs(path, v, true)
}

// writeJSONAs writes v atomically, indented or compact (run.json of a big
// flow is compact: it is rewritten as the run starts and ends).
func writeJSONAs(path string, v any, indent bool) error {
	if !indent {
		// Encoded straight into the file: a big record is not copied.
		return fsutil.WriteFileAtomicFunc(path, func(w io.Writer) error {
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
	return fsutil.WriteFileAtomic(path, data)
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

// readJSON reads path into v; a missing file returns an error wrapping
// fs.ErrNotExist, a damaged one a *DamagedError of run id saying fix.
func readJSON(path string, v any, id, fix string) error {
	data, err := readRegular(path)
	if errors.Is(err, errNotRegular) {
		return &DamagedError{RunID: id, Path: path, Problem: "is not a regular file", Fix: fix}
	}
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &DamagedError{RunID: id, Path: path, Problem: "is empty", Fix: fix}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &DamagedError{RunID: id, Path: path, Problem: fmt.Sprintf("is damaged (%v)", err), Fix: fix}
	}
	return nil
}

// errNotRegular is a record that is a named pipe, a device or a directory.
var errNotRegular = errors.New("not a regular file")

// readRegular is os.ReadFile for the files of a run, which must be regular
// files: a named pipe put in a record's place would block the open (and a
// command that lists every run) until something writes to it, so it is
// opened without waiting and refused.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return io.ReadAll(f)
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

// creatingPrefix names a run directory still being built (see Create).
const creatingPrefix = ".creating-"

// creatingGrace is how old a directory being built must be before it
// counts as the leftover of a creator that died.
const creatingGrace = time.Minute

// Create builds the run's home under a temporary name, takes the run's lock
// inside it, and renames it into place: other processes see the run whole
// and held by this process, or not at all. A crash part-way leaves only
// the temporary directory, which runIDs sweeps once it is old.
func (s *FileStore) Create(meta *RunMeta, flowSource []byte) (unlock func(), err error) {
	if err := mkdirDurable(s.root); err != nil {
		return nil, err
	}
	dir := s.runDir(meta.ID)
	tmp := filepath.Join(s.root, creatingPrefix+meta.ID)
	if err := os.Mkdir(tmp, fsutil.DirPerm); err != nil {
		return nil, fmt.Errorf("cannot create the run directory %s: %w", tmp, err)
	}
	hook("create:dir", tmp)
	var lock *os.File
	defer func() {
		if err != nil {
			if lock != nil {
				lock.Close()
			}
			_ = os.RemoveAll(tmp)
		}
	}()
	lp := filepath.Join(tmp, "lock")
	if lock, err = os.OpenFile(lp, os.O_RDWR|os.O_CREATE, fsutil.FilePerm); err != nil {
		return nil, fmt.Errorf("cannot open the lock %s: %w", lp, err)
	}
	if err = tryLock(lock); err != nil {
		return nil, fmt.Errorf("cannot lock %s: %w", lp, err)
	}
	plan := planFile{Plan: meta.Plan, Reused: meta.Reused}
	pp := filepath.Join(tmp, "plan.json")
	data, err := encodeJSON(pp, &plan, len(plan.Plan) <= 50)
	if err != nil {
		return nil, err
	}
	if err = writeDurable(pp, data); err != nil {
		return nil, err
	}
	if !s.linkSnapshot(meta, flowSource, tmp) {
		if err = writeDurable(filepath.Join(tmp, "flow.yaml"), flowSource); err != nil {
			return nil, err
		}
	}
	if data, err = s.metaJSON(meta); err != nil {
		return nil, err
	}
	if err = writeDurable(filepath.Join(tmp, "run.json"), data); err != nil {
		return nil, err
	}
	if err = fsutil.SyncDir(tmp); err != nil {
		return nil, err
	}
	hook("create:written", tmp)
	if _, serr := os.Lstat(dir); serr == nil {
		return nil, fmt.Errorf("cannot create run %s: %s already exists", meta.ID, dir)
	}
	if err = os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("cannot create the run directory %s: %w", dir, err)
	}
	hook("create:renamed", dir)
	meta.Dir = dir
	unlock = holdLock(lock)
	if err := fsutil.SyncDir(s.root); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// linkSnapshot hard-links a replay's flow snapshot to its source's when they
// are the same bytes (snapshots are never rewritten), instead of copying.
func (s *FileStore) linkSnapshot(meta *RunMeta, flowSource []byte, dir string) bool {
	if meta.ReplayOf == nil {
		return false
	}
	src := filepath.Join(s.runDir(*meta.ReplayOf), "flow.yaml")
	old, err := os.ReadFile(src)
	if err != nil || !bytes.Equal(old, flowSource) {
		return false
	}
	return os.Link(src, filepath.Join(dir, "flow.yaml")) == nil
}

// SaveMeta replaces run.json atomically.
func (s *FileStore) SaveMeta(meta *RunMeta) error {
	data, err := s.metaJSON(meta)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.runDir(meta.ID), "run.json"), data)
}

// metaJSON is run.json's content, stamped now.
func (s *FileStore) metaJSON(meta *RunMeta) ([]byte, error) {
	meta.UpdatedAt = time.Now().UTC()
	m := *meta
	m.Steps = nil // steps live in their own records
	m.Dir = ""
	return encodeJSON(filepath.Join(s.runDir(meta.ID), "run.json"), &m, len(m.Index) <= 50)
}

// planFile is plan.json: the parts of a run's meta that never change.
type planFile struct {
	Plan   []PlanStep    `json:"plan"`
	Reused []ReusedGroup `json:"reused,omitempty"`
}

// LoadMeta reads run.json and plan.json.
func (s *FileStore) LoadMeta(id string) (*RunMeta, error) {
	m, err := s.LoadSummary(id)
	if err != nil {
		return nil, err
	}
	var plan planFile
	p := filepath.Join(s.runDir(id), "plan.json")
	if err := readJSON(p, &plan, id, s.runFix(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &DamagedError{RunID: id, Path: p, Problem: "is missing", Fix: s.runFix(id)}
		}
		return nil, err
	}
	if len(plan.Plan) == 0 {
		return nil, &DamagedError{RunID: id, Path: p, Problem: "is damaged (it lists no steps)", Fix: s.runFix(id)}
	}
	m.Plan, m.Reused = plan.Plan, plan.Reused
	return m, nil
}

// LoadSummary reads run.json.
func (s *FileStore) LoadSummary(id string) (*RunMeta, error) {
	var m RunMeta
	p := filepath.Join(s.runDir(id), "run.json")
	if err := readJSON(p, &m, id, s.runFix(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := os.Stat(s.runDir(id)); derr == nil {
				return nil, &DamagedError{RunID: id, Path: p, Problem: "is missing", Fix: s.runFix(id)}
			}
			return nil, fmt.Errorf("run %s: %w (no %s)", id, ErrNotFound, p)
		}
		return nil, err
	}
	switch {
	case m.ID != id:
		return nil, &DamagedError{RunID: id, Path: p, Problem: fmt.Sprintf("is damaged (it holds run %q, not %s)", m.ID, id), Fix: s.runFix(id)}
	case !knownRunStatus(m.Status):
		return nil, &DamagedError{RunID: id, Path: p, Problem: fmt.Sprintf("is damaged (its status %q is not a run status)", m.Status), Fix: s.runFix(id)}
	}
	m.Dir = s.runDir(id)
	return &m, nil
}

func knownRunStatus(st RunStatus) bool {
	switch st {
	case RunRunning, RunWaiting, RunCompleted, RunFailed, RunCancelled, RunInterrupted:
		return true
	}
	return false
}

func knownStepStatus(st StepStatus) bool {
	switch st {
	case StepPending, StepRunning, StepWaiting, StepCompleted, StepFailed, StepSkipped:
		return true
	}
	return false
}

// FlowSource returns flow.yaml.
func (s *FileStore) FlowSource(id string) ([]byte, error) {
	p := filepath.Join(s.runDir(id), "flow.yaml")
	data, err := readRegular(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &DamagedError{RunID: id, Path: p, Problem: "is missing", Fix: s.runFix(id)}
	case errors.Is(err, errNotRegular):
		return nil, &DamagedError{RunID: id, Path: p, Problem: "is not a regular file", Fix: s.runFix(id)}
	case err != nil:
		return nil, fmt.Errorf("cannot read the flow snapshot of run %s: %w", id, err)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, &DamagedError{RunID: id, Path: p, Problem: "is empty", Fix: s.runFix(id)}
	}
	return data, nil
}

// SaveStep writes steps/<step>/result.json atomically.
func (s *FileStore) SaveStep(id string, r *StepResult) error {
	dir := s.StepDir(id, r.ID)
	if err := s.ensureStepDir(id, dir); err != nil {
		return err
	}
	rec := *r
	rec.Items = nil // items have their own records
	rec.Dir = ""
	path := filepath.Join(dir, "result.json")
	hook("record:before-write", path)
	err := writeJSONAs(path, &rec, !bigOutput(rec.Output))
	hook("record:after-write", path)
	return err
}

func (s *FileStore) ensureStepDir(id, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirDurable(filepath.Join(s.runDir(id), "steps")); err != nil {
		return err
	}
	return mkdirDurable(dir)
}

// PrepareSteps makes steps/<id>/ for each step and syncs steps/ once: one
// fsync for the run instead of one per step.
func (s *FileStore) PrepareSteps(id string, steps []string) error {
	parent := filepath.Join(s.runDir(id), "steps")
	if err := mkdirDurable(parent); err != nil {
		return err
	}
	made := false
	for _, st := range steps {
		err := os.Mkdir(filepath.Join(parent, st), fsutil.DirPerm)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cannot create the directory of step %s: %w", st, err)
		}
		made = made || err == nil
	}
	if !made {
		return nil
	}
	return fsutil.SyncDir(parent)
}

// LoadStep reads one step record; nil, nil when there is none.
func (s *FileStore) LoadStep(id, step string) (*StepResult, error) {
	var r StepResult
	p := filepath.Join(s.StepDir(id, step), "result.json")
	if err := readJSON(p, &r, id, stepFix(id, step)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	switch {
	case r.ID != step:
		return nil, &DamagedError{RunID: id, Path: p, Problem: fmt.Sprintf("is damaged (it holds step %q, not %s)", r.ID, step), Fix: stepFix(id, step)}
	case !knownStepStatus(r.Status):
		return nil, &DamagedError{RunID: id, Path: p, Problem: fmt.Sprintf("is damaged (its status %q is not a step status)", r.Status), Fix: stepFix(id, step)}
	}
	r.Dir = s.StepDir(id, step)
	return &r, nil
}

// LoadSteps reads every step record of the run.
func (s *FileStore) LoadSteps(id string) (map[string]*StepResult, error) {
	out := map[string]*StepResult{}
	ents, err := os.ReadDir(filepath.Join(s.runDir(id), "steps"))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("cannot read the steps of run %s: %w", id, err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		r, err := s.LoadStep(id, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r != nil {
			out[r.ID] = r
		}
	}
	return out, errors.Join(errs...)
}

// SaveItem writes steps/<step>/items/<n>.json atomically.
func (s *FileStore) SaveItem(id, step string, r *ItemResult) error {
	dir := filepath.Join(s.StepDir(id, step), "items")
	if _, err := os.Stat(dir); err != nil {
		if err := s.ensureStepDir(id, s.StepDir(id, step)); err != nil {
			return err
		}
		if err := mkdirDurable(dir); err != nil {
			return err
		}
	}
	return writeJSONAs(filepath.Join(dir, strconv.Itoa(r.Index)+".json"), r, !bigOutput(r.Output))
}

// LoadItems reads every item record of a foreach step.
func (s *FileStore) LoadItems(id, step string) (map[int]*ItemResult, error) {
	out := map[int]*ItemResult{}
	dir := filepath.Join(s.StepDir(id, step), "items")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("cannot read the items of step %s: %w", step, err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		n, err := strconv.Atoi(strings.TrimSuffix(name, ".json"))
		if err != nil || !strings.HasSuffix(name, ".json") {
			continue // temp files and strangers
		}
		var r ItemResult
		fix := fmt.Sprintf("move it away and item %d of step %s counts as never run (a resume or retry runs it again, unless the run completed)", n, step)
		if err := readJSON(filepath.Join(dir, name), &r, id, fix); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Index = n
		out[n] = &r
	}
	return out, errors.Join(errs...)
}

// ForgetStep removes a step's result.json.
func (s *FileStore) ForgetStep(id, step string) error {
	dir := s.StepDir(id, step)
	err := os.Remove(filepath.Join(dir, "result.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot remove the record of step %s: %w", step, err)
	}
	return fsutil.SyncDir(dir)
}

// WriteArtifact writes steps/<step>/<name> atomically.
func (s *FileStore) WriteArtifact(id, step, name string, data []byte) error {
	dir := s.StepDir(id, step)
	if err := s.ensureStepDir(id, dir); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, name), data)
}

// Append adds one event line to journal.jsonl.
func (s *FileStore) Append(id string, e Event, sync bool) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cannot encode a journal event: %w", err)
	}
	s.journMu.Lock()
	defer s.journMu.Unlock()
	return s.appendLines(filepath.Join(s.runDir(id), "journal.jsonl"), append(line, '\n'), sync, true)
}

// appendLines appends whole lines to an append-only file. The first time
// this process writes to the file it checks the file ends with a newline:
// a crash or a full disk can leave a torn last line. In the journal the
// torn line is repaired, as a write-ahead log does: completed when it is a
// whole event that lacks only its newline, cut off otherwise. In the log
// (text for people) it is kept and the next line starts on a line of its
// own. A write cut short here is taken back at once.
func (s *FileStore) appendLines(p string, data []byte, sync, journal bool) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE, fsutil.FilePerm)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	defer f.Close()
	s.mu.Lock()
	healed := s.healed[p]
	s.healed[p] = true
	s.mu.Unlock()
	if !healed {
		if st, err := f.Stat(); err == nil && st.Size() > 0 {
			var last [1]byte
			if _, err := f.ReadAt(last[:], st.Size()-1); err == nil && last[0] != '\n' {
				if !journal || repairTail(f, st.Size()) != nil {
					data = append([]byte{'\n'}, data...)
				}
			}
		}
	}
	if n, err := f.Write(data); err != nil {
		if n > 0 {
			if st, serr := f.Stat(); serr == nil {
				_ = f.Truncate(st.Size() - int64(n))
			}
		}
		s.mu.Lock()
		s.healed[p] = false // check the tail again next time
		s.mu.Unlock()
		return fmt.Errorf("cannot append to %s: %w", p, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("cannot sync %s: %w", p, err)
		}
	}
	return nil
}

// repairTail mends the torn last line of a journal of size bytes.
func repairTail(f *os.File, size int64) error {
	start, err := lastLineStart(f, size)
	if err != nil {
		return err
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return err
	}
	var ev Event
	if json.Unmarshal(tail, &ev) == nil {
		_, err = f.Write([]byte{'\n'})
		return err
	}
	return f.Truncate(start)
}

// lastLineStart is the offset just after the last newline of the first
// size bytes of f (0 when there is none), read backwards in blocks.
func lastLineStart(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 32*1024)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// Journal reads the journal back; unreadable lines become warnings.
func (s *FileStore) Journal(id string) ([]Event, []string, error) {
	p := filepath.Join(s.runDir(id), "journal.jsonl")
	data, err := readRegular(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("cannot read the journal %s: %w", p, err)
	}
	var evs []Event
	var warns []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		ln := sc.Bytes()
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(ln, &e); err != nil {
			warns = append(warns, fmt.Sprintf("%s:%d: skipped an unreadable journal line (a crash while writing it leaves one): %v", p, n, err))
			continue
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return evs, warns, fmt.Errorf("cannot read the journal %s: %w", p, err)
	}
	return evs, warns, nil
}

// AppendLog adds lines to log.txt, each "<time> <step>[#item] <text>".
func (s *FileStore) AppendLog(id string, lines ...LogLine) error {
	var b strings.Builder
	for _, l := range lines {
		step := l.Step
		if step == "" {
			step = "-"
		}
		if l.Item != nil {
			step += "#" + strconv.Itoa(*l.Item)
		}
		b.WriteString(l.Time.UTC().Format(time.RFC3339Nano) + " " + step + " " + strings.ReplaceAll(l.Text, "\n", " ") + "\n")
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.appendLines(filepath.Join(s.runDir(id), "log.txt"), []byte(b.String()), false, false)
}

// Logs reads log.txt back.
func (s *FileStore) Logs(id string) ([]LogLine, error) {
	p := filepath.Join(s.runDir(id), "log.txt")
	data, err := readRegular(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the log %s: %w", p, err)
	}
	var out []LogLine
	for ln := range strings.SplitSeq(string(data), "\n") {
		if ln == "" {
			continue
		}
		parts := strings.SplitN(ln, " ", 3)
		if len(parts) < 2 {
			continue
		}
		var l LogLine
		l.Time, _ = time.Parse(time.RFC3339Nano, parts[0])
		step := parts[1]
		if i := strings.LastIndexByte(step, '#'); i >= 0 {
			if n, err := strconv.Atoi(step[i+1:]); err == nil {
				l.Item = &n
				step = step[:i]
			}
		}
		if step != "-" {
			l.Step = step
		}
		if len(parts) == 3 {
			l.Text = parts[2]
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *FileStore) runIDs() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the runs in %s: %w", s.root, err)
	}
	var ids []string
	for _, e := range ents {
		switch name := e.Name(); {
		case e.IsDir() && strings.HasPrefix(name, "kr-"):
			ids = append(ids, name)
		case strings.HasPrefix(name, creatingPrefix):
			s.sweepCreating(e)
		}
	}
	return ids, nil
}

// sweepCreating removes a run directory whose creator died before it was
// renamed into place: old, and its lock (taken first thing) not held.
func (s *FileStore) sweepCreating(e fs.DirEntry) {
	info, err := e.Info()
	if err != nil || time.Since(info.ModTime()) < creatingGrace {
		return
	}
	dir := filepath.Join(s.root, e.Name())
	if f, err := os.Open(filepath.Join(dir, "lock")); err == nil {
		defer f.Close()
		if tryLock(f) != nil {
			return // its creator lives
		}
	}
	_ = os.RemoveAll(dir)
}

// Resolve turns a run reference into a run id.
func (s *FileStore) Resolve(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", &UsageError{Err: errors.New("no run given: name a run id, a prefix of one, or 'last'")}
	}
	if ref == "last" {
		metas, err := s.List()
		var damaged DamagedRuns
		if err != nil && !errors.As(err, &damaged) {
			return "", err
		}
		if len(metas) == 0 {
			return "", fmt.Errorf("there is no last run in %s yet: %w", s.root, ErrNotFound)
		}
		return metas[0].ID, nil
	}
	if strings.HasPrefix(ref, "kr-") && !strings.ContainsAny(ref, "/\\.") {
		if _, err := os.Stat(filepath.Join(s.runDir(ref), "run.json")); err == nil {
			return ref, nil // a full id: no need to list every run
		}
	}
	ids, err := s.runIDs()
	if err != nil {
		return "", err
	}
	want := ref
	if !strings.HasPrefix(want, "kr-") {
		want = "kr-" + want
	}
	var cands []string
	for _, id := range ids {
		if id == ref || id == want {
			return id, nil
		}
		if strings.HasPrefix(id, want) {
			cands = append(cands, id)
		}
	}
	switch len(cands) {
	case 0:
		return "", fmt.Errorf("no run matches %q in %s (see `kitaru executions list`): %w", ref, s.root, ErrNotFound)
	case 1:
		return cands[0], nil
	}
	sort.Strings(cands)
	return "", &UsageError{Err: fmt.Errorf("%q matches %d runs: %s; give more of the id", ref, len(cands), strings.Join(cands, ", "))}
}

// List returns every readable run meta, newest first; the runs that cannot
// be read are reported in a DamagedRuns error beside them.
func (s *FileStore) List() ([]*RunMeta, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	var out []*RunMeta
	var damaged DamagedRuns
	for _, id := range ids {
		m, err := s.LoadSummary(id)
		if err != nil {
			// A damaged run must not hide the others, nor itself.
			var de *DamagedError
			if !errors.As(err, &de) {
				de = &DamagedError{RunID: id, Path: filepath.Join(s.runDir(id), "run.json"), Problem: fmt.Sprintf("cannot be read (%v)", err), Fix: s.runFix(id)}
			}
			damaged = append(damaged, de)
			continue
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].ID > out[j].ID
	})
	if len(damaged) > 0 {
		sort.Slice(damaged, func(i, j int) bool { return damaged[i].RunID < damaged[j].RunID })
		return out, damaged
	}
	return out, nil
}

// Lock takes the run's lock; the system frees it when the holder dies,
// which is how a stale lock is taken over.
func (s *FileStore) Lock(id string) (func(), error) {
	p := filepath.Join(s.runDir(id), "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, fsutil.FilePerm)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock %s: %w", p, err)
	}
	if err := lockSettled(f, true, p); err != nil {
		f.Close()
		if lockBusy(err) {
			return nil, &UsageError{Err: &HeldError{RunID: id, PID: readPID(p)}}
		}
		return nil, fmt.Errorf("cannot lock %s: %w", p, err)
	}
	return holdLock(f), nil
}

// Held reports whether a process holds the run's lock, and which.
func (s *FileStore) Held(id string) (int, bool, error) {
	p := filepath.Join(s.runDir(id), "lock")
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot open the lock %s: %w", p, err)
	}
	defer f.Close()
	if err := lockSettled(f, false, p); err != nil {
		if lockBusy(err) {
			return readPID(p), true, nil
		}
		return 0, false, fmt.Errorf("cannot check the lock %s: %w", p, err)
	}
	unlockFile(f)
	return 0, false, nil
}

// RequestCancel writes the cancel file.
func (s *FileStore) RequestCancel(id string) error {
	return fsutil.WriteFileAtomic(filepath.Join(s.runDir(id), "cancel"), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"))
}

// CancelRequested tells whether the cancel file exists.
func (s *FileStore) CancelRequested(id string) bool {
	_, err := os.Stat(filepath.Join(s.runDir(id), "cancel"))
	return err == nil
}

// ClearCancel removes the cancel file.
func (s *FileStore) ClearCancel(id string) error {
	err := os.Remove(filepath.Join(s.runDir(id), "cancel"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

var _ Store = (*FileStore)(nil)
