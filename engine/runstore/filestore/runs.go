package filestore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// creatingPrefix names a run directory still being built (see Create).
const creatingPrefix = ".creating-"

// creatingGrace is how old a directory being built must be before it
// counts as the leftover of a creator that died.
const creatingGrace = time.Minute

// Create builds the run's home under a temporary name, takes the run's lock
// inside it, and renames it into place: other processes see the run whole
// and held by this process, or not at all. A crash part-way leaves only
// the temporary directory, which runIDs sweeps once it is old.
func (s *Store) Create(ctx context.Context, meta *runstore.RunMeta, flowSource []byte, holder runstore.Holder, _ time.Duration) (_ *runstore.Lease, err error) {
	if err := mkdirDurable(s.root); err != nil {
		return nil, err
	}
	dir := s.RunDir(meta.ID)
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
	plan := planFileOf(meta)
	pp := filepath.Join(tmp, "plan.json")
	planData, err := encodeJSON(pp, &plan, len(plan.Plan) <= 50)
	if err != nil {
		return nil, err
	}
	metaData, err := s.metaJSON(meta)
	if err != nil {
		return nil, err
	}
	// steps/ is made here, where the directory's one sync covers it,
	// rather than by the first record.
	if err = os.Mkdir(filepath.Join(tmp, "steps"), fsutil.DirPerm); err != nil {
		return nil, fmt.Errorf("cannot create the run directory %s: %w", tmp, err)
	}
	writes := []func() error{
		func() error { return writeDurable(pp, planData) },
		func() error { return writeDurable(filepath.Join(tmp, "run.json"), metaData) },
	}
	if !s.linkSnapshot(meta, flowSource, tmp) {
		writes = append(writes, func() error { return writeDurable(filepath.Join(tmp, "flow.yaml"), flowSource) })
	}
	if err = fsutil.Together(writes...); err != nil {
		return nil, err
	}
	if err = fsutil.SyncDir(tmp); err != nil {
		return nil, err
	}
	hook("create:written", tmp)
	if _, serr := os.Lstat(dir); serr == nil {
		return nil, fmt.Errorf("cannot create run %s: %s already exists", meta.ID, dir)
	}
	if !renameWhileOpen {
		// Windows renames no directory with a file open in it: the lock is
		// let go for the rename and taken again at once.
		unlock(lock)
		lock.Close()
		lock = nil
	}
	if err = os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("cannot create the run directory %s: %w", dir, err)
	}
	hook("create:renamed", dir)
	if lock == nil {
		if lock, err = openRunFile(filepath.Join(dir, "lock"), os.O_RDWR, "lock"); err != nil {
			return nil, fmt.Errorf("cannot open the lock of run %s: %w", meta.ID, err)
		}
		if err = tryLock(lock); err != nil {
			lock.Close()
			return nil, fmt.Errorf("cannot lock run %s it just created: %w", meta.ID, err)
		}
	}
	l, err := s.hold(meta.ID, lock, holder, "") // a new run: no request before it
	if err != nil {
		return nil, err
	}
	if err := fsutil.SyncDir(s.root); err != nil {
		_ = s.Release(ctx, l)
		return nil, err
	}
	s.mu.Lock()
	s.plans[meta.ID] = ownSteps(meta)
	s.mu.Unlock()
	return l, nil
}

// linkSnapshot hard-links a replay's flow snapshot to its source's when they
// are the same bytes (snapshots are never rewritten), instead of copying.
func (s *Store) linkSnapshot(meta *runstore.RunMeta, flowSource []byte, dir string) bool {
	if meta.ReplayOf == nil {
		return false
	}
	name, _ := snapshotNames(s.flowRev(context.Background(), *meta.ReplayOf))
	src := filepath.Join(s.RunDir(*meta.ReplayOf), name)
	old, err := readRegular(src)
	if err != nil || !bytes.Equal(old, flowSource) {
		return false
	}
	return os.Link(src, filepath.Join(dir, "flow.yaml")) == nil
}

// SaveMeta replaces run.json atomically.
func (s *Store) SaveMeta(ctx context.Context, meta *runstore.RunMeta) error {
	if err := s.exists(meta.ID); err != nil {
		return err
	}
	data, err := s.metaJSON(meta)
	if err != nil {
		return err
	}
	p := filepath.Join(s.RunDir(meta.ID), "run.json")
	if !s.leasedHere(meta.ID) {
		return fsutil.WriteFileAtomic(p, data)
	}
	// Under this process's lease the run's directory is synced when the
	// lease is let go, with the journal (see syncJournal), not once more
	// here: its content is durable and whole now, and only a machine
	// crash before the release could bring back the run.json before
	// this one, whose run a resume then finishes from its records.
	if err := fsutil.ReplaceFileSynced(p, data); err != nil {
		return err
	}
	s.syncDirLater(meta.ID, s.RunDir(meta.ID))
	return nil
}

// metaJSON is run.json's content, stamped now.
func (s *Store) metaJSON(meta *runstore.RunMeta) ([]byte, error) {
	meta.UpdatedAt = time.Now().UTC()
	m := *meta
	m.Steps = nil  // steps live in their own records
	m.Reused = nil // plan.json holds them
	m.Dir = ""
	return encodeJSON(filepath.Join(s.RunDir(meta.ID), "run.json"), &m, len(m.Index) <= 50)
}

// planFile is plan.json: the parts of a run's meta that never change. Its
// steps are runstore.PlanStep's "<id> <kind>[ foreach]", kept as plain
// strings here: encoding/json is much slower through a method per step,
// and a replay of a big run writes its plan whole.
type planFile struct {
	Plan   []string               `json:"plan"`
	Reused []runstore.ReusedGroup `json:"reused,omitempty"`
}

func planFileOf(meta *runstore.RunMeta) *planFile {
	p := &planFile{Plan: make([]string, len(meta.Plan)), Reused: meta.Reused}
	for i, st := range meta.Plan {
		p.Plan[i] = st.String()
	}
	return p
}

// steps is the plan's steps; an entry that does not read is an error.
func (p *planFile) steps() ([]runstore.PlanStep, error) {
	out := make([]runstore.PlanStep, len(p.Plan))
	for i, s := range p.Plan {
		st, err := runstore.ParsePlanStep(s)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// LoadMeta reads run.json and plan.json.
func (s *Store) LoadMeta(ctx context.Context, id string) (*runstore.RunMeta, error) {
	m, err := s.LoadSummary(ctx, id)
	if err != nil {
		return nil, err
	}
	var plan planFile
	_, planName := snapshotNames(m.FlowRev)
	p := filepath.Join(s.RunDir(id), planName)
	problem, err := readJSON(p, &plan)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, s.damaged(id, runstore.PartPlan, p, "is missing")
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	case problem != "":
		return nil, s.damaged(id, runstore.PartPlan, p, problem)
	case len(plan.Plan) == 0:
		return nil, s.damaged(id, runstore.PartPlan, p, "is damaged (it lists no steps)")
	}
	steps, err := plan.steps()
	if err != nil {
		return nil, s.damaged(id, runstore.PartPlan, p, fmt.Sprintf("is damaged (%v)", err))
	}
	m.Plan, m.Reused = steps, plan.Reused
	return m, nil
}

// LoadSummary reads run.json.
func (s *Store) LoadSummary(ctx context.Context, id string) (*runstore.RunMeta, error) {
	if !validID(id) {
		return nil, fmt.Errorf("run %s: %w", id, runstore.ErrNotFound)
	}
	var m runstore.RunMeta
	p := filepath.Join(s.RunDir(id), "run.json")
	problem, err := readJSON(p, &m)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, derr := os.Stat(s.RunDir(id)); derr == nil {
			return nil, s.damaged(id, runstore.PartMeta, p, "is missing")
		}
		return nil, fmt.Errorf("run %s: %w (no %s)", id, runstore.ErrNotFound, p)
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	case problem != "":
		return nil, s.damaged(id, runstore.PartMeta, p, problem)
	case m.ID != id:
		return nil, s.damaged(id, runstore.PartMeta, p, fmt.Sprintf("is damaged (it holds run %q, not %s)", m.ID, id))
	case !knownRunStatus(m.Status):
		return nil, s.damaged(id, runstore.PartMeta, p, fmt.Sprintf("is damaged (its status %q is not a run status)", m.Status))
	}
	m.Reused = nil // what an older kitaru wrote here too: plan.json's is the one
	return &m, nil
}

// validID says whether id can name a run directory: a run id never holds a
// path separator or starts with a dot.
func validID(id string) bool {
	return strings.HasPrefix(id, "kr-") && !strings.ContainsAny(id, `/\`) && id != "kr-." && id != "kr-.."
}

func knownRunStatus(st runstore.RunStatus) bool {
	switch st {
	case runstore.RunRunning, runstore.RunWaiting, runstore.RunCompleted, runstore.RunFailed, runstore.RunCancelled, runstore.RunInterrupted:
		return true
	}
	return false
}

func knownStepStatus(st runstore.StepStatus) bool {
	switch st {
	case runstore.StepPending, runstore.StepRunning, runstore.StepWaiting, runstore.StepCompleted, runstore.StepFailed, runstore.StepSkipped:
		return true
	}
	return false
}

// FlowSource returns flow.yaml (or the revision run.json names).
func (s *Store) FlowSource(ctx context.Context, id string) ([]byte, error) {
	name, _ := snapshotNames(s.flowRev(ctx, id))
	p := filepath.Join(s.RunDir(id), name)
	data, err := readRegular(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, s.damaged(id, runstore.PartFlow, p, "is missing")
	case errors.Is(err, errNotRegular):
		return nil, s.damaged(id, runstore.PartFlow, p, "is not a regular file")
	case err != nil:
		return nil, fmt.Errorf("cannot read the flow snapshot of run %s: %w", id, err)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, s.damaged(id, runstore.PartFlow, p, "is empty")
	}
	return data, nil
}

func (s *Store) runIDs() ([]string, error) {
	ents, err := readDirUnsorted(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the runs in %s: %w", s.root, err)
	}
	var ids []string
	for _, e := range ents {
		switch name := e.Name(); {
		case e.IsDir() && validID(name):
			ids = append(ids, name)
		case strings.HasPrefix(name, creatingPrefix):
			s.sweepCreating(e)
		case strings.HasPrefix(name, deletingPrefix):
			s.sweepDeleting(name)
		case strings.HasPrefix(name, indexName+".tmp-"):
			s.sweepIndexTemp(e)
		}
	}
	return ids, nil
}

// readDirUnsorted is os.ReadDir without its sort by name, which a listing
// of thousands of runs need not pay: Query orders the runs itself.
func readDirUnsorted(dir string) ([]os.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// sweepCreating removes a run directory whose creator died before it was
// renamed into place: old, and its lock (taken first thing) not held.
func (s *Store) sweepCreating(e fs.DirEntry) {
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

// Query reads the run.json of every run whose id matches (a directory
// listing narrows by prefix first), then filters, sorts and pages. A run
// that cannot be read is reported when its id matches the prefix: its
// flow and status are unknown, so it is never hidden by them.
//
// The index (see index.go) spares most of the reads; a query that filters
// by neither flow nor status spares the stats too (see queryByStart).
func (s *Store) Query(ctx context.Context, q runstore.Query) (runstore.Page, error) {
	ids, err := s.runIDs()
	if err != nil {
		return runstore.Page{}, err
	}
	now := time.Now()
	idx := s.readIndex()
	if q.IDPrefix != "" {
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !strings.HasPrefix(id, q.IDPrefix) })
	}
	if idx != nil && q.Flow == "" && q.Status == "" && byStart {
		if page, ok, err := s.queryByStart(ctx, q, ids, idx, now); ok {
			return page, err
		}
	}
	stale := idx == nil
	if idx == nil {
		idx = map[string]indexEntry{}
	}
	// What each run is sorted and filtered by comes from the index while
	// its run.json is the one the index read; the others are read (and
	// kept for the page), and the index written again.
	read := map[string]*runstore.RunMeta{}
	var keys []*runstore.RunMeta
	var damaged runstore.DamagedRuns
	stats := s.statRuns(ids)
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return runstore.Page{}, err
		}
		info, serr := stats[i].info, stats[i].err
		e, ok := idx[id]
		if serr != nil || !ok || e.mtime != info.ModTime().UnixNano() || e.size != info.Size() {
			m, de, settled := s.reread(ctx, id, info, serr, idx, read, now)
			if m == nil {
				if de != nil {
					damaged = append(damaged, de)
				}
				if ok {
					delete(idx, id)
					stale = true
				}
				continue
			}
			stale = stale || settled
			// A run.json that changed between its stat and its read is
			// indexed by its older time: the next query reads it again.
			e.started, e.status, e.flow = m.StartedAt.UnixNano(), m.Status, m.Flow
		}
		if (q.Flow != "" && e.flow != q.Flow) || (q.Status != "" && e.status != q.Status) {
			continue
		}
		keys = append(keys, &runstore.RunMeta{Run: runstore.Run{ID: id, StartedAt: time.Unix(0, e.started).UTC()}})
	}
	if s.forgetDeleted(q, ids, idx) || stale {
		s.writeIndex(idx, now)
	}
	page, err := runstore.PageOf(keys, q)
	if err != nil {
		return runstore.Page{}, err
	}
	runs, more, _ := s.pageRuns(ctx, page.Runs, read, q, nil)
	page.Runs = runs
	return page, sortDamaged(append(damaged, more...))
}

// byStart is whether Query takes queryByStart's way; false is the way
// before it, which the benchmarks measure it against.
var byStart = true

// statRunJSON is how Query stats a run.json (the tests count them).
var statRunJSON = os.Stat

// queryByStart answers a query that filters by neither flow nor status
// from the index without a stat of every run.json: what it sorts by, a
// run's start, is written once, when the run is created (the engine never
// changes it), so an entry's start is right whatever became of the run
// since, and the page's runs are read whole anyway, so what they say is
// what they say now. Runs the index lacks (new ones) are read and
// indexed; runs gone leave it. A page run whose start is not the indexed
// one (its record replaced by another's) sends the query the other way,
// which checks every entry (ok false).
func (s *Store) queryByStart(ctx context.Context, q runstore.Query, ids []string, idx map[string]indexEntry, now time.Time) (_ runstore.Page, ok bool, _ error) {
	read := map[string]*runstore.RunMeta{}
	var damaged runstore.DamagedRuns
	type startKey struct {
		id      string
		started int64
	}
	starts := make([]startKey, 0, len(ids))
	stale := false
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return runstore.Page{}, true, err
		}
		e, ok := idx[id]
		if !ok {
			info, serr := statRunJSON(filepath.Join(s.RunDir(id), "run.json"))
			m, de, settled := s.reread(ctx, id, info, serr, idx, read, now)
			if m == nil {
				if de != nil {
					damaged = append(damaged, de)
				}
				continue
			}
			stale = stale || settled
			e.started = m.StartedAt.UnixNano()
		}
		starts = append(starts, startKey{id, e.started})
	}
	if s.forgetDeleted(q, ids, idx) || stale {
		s.writeIndex(idx, now)
	}
	if q.Cursor == "" && q.Limit > 0 && len(starts) > q.Limit+1 {
		// The first page is the newest Limit runs, and one more says
		// there are others: only those are made keys of (as Newer
		// orders them).
		slices.SortFunc(starts, func(a, b startKey) int {
			if c := cmp.Compare(b.started, a.started); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		})
		starts = starts[:q.Limit+1]
	}
	keys := make([]*runstore.RunMeta, len(starts))
	for i, k := range starts {
		keys[i] = &runstore.RunMeta{Run: runstore.Run{ID: k.id, StartedAt: time.Unix(0, k.started).UTC()}}
	}
	page, err := runstore.PageOf(keys, q)
	if err != nil {
		return runstore.Page{}, true, err
	}
	runs, more, ok := s.pageRuns(ctx, page.Runs, read, q, func(m *runstore.RunMeta) bool {
		e, ok := idx[m.ID]
		return !ok || e.started == m.StartedAt.UnixNano()
	})
	if !ok {
		return runstore.Page{}, false, nil
	}
	page.Runs = runs
	return page, true, sortDamaged(append(damaged, more...))
}

// reread reads run id's summary into read and, when the stat of its
// run.json (info, serr) worked, its entry into idx; settled says the
// entry is one the index is written with (a racy one is left out, see
// writeIndex, so the index need not be written for it alone). A nil m is
// a run damaged (de) or deleted since it was listed.
func (s *Store) reread(ctx context.Context, id string, info os.FileInfo, serr error, idx map[string]indexEntry, read map[string]*runstore.RunMeta, now time.Time) (m *runstore.RunMeta, de *runstore.DamagedError, settled bool) {
	if m, de = s.summaryOf(ctx, id); m == nil {
		return nil, de, false
	}
	read[id] = m
	if serr != nil {
		return m, nil, false
	}
	e := indexEntry{mtime: info.ModTime().UnixNano(), size: info.Size(), started: m.StartedAt.UnixNano(), status: m.Status, flow: m.Flow}
	idx[id] = e
	return m, nil, e.mtime <= now.Add(-indexRacy).UnixNano()
}

// summaryOf reads run id's summary, or says how it is damaged (nil, nil:
// the run was deleted since it was listed).
func (s *Store) summaryOf(ctx context.Context, id string) (*runstore.RunMeta, *runstore.DamagedError) {
	m, err := s.LoadSummary(ctx, id)
	if err == nil {
		return m, nil
	}
	if errors.Is(err, runstore.ErrNotFound) {
		return nil, nil
	}
	// A damaged run must not hide the others, nor itself.
	var de *runstore.DamagedError
	if !errors.As(err, &de) {
		de = s.damaged(id, runstore.PartMeta, filepath.Join(s.RunDir(id), "run.json"), fmt.Sprintf("cannot be read (%v)", err))
	}
	return nil, de
}

// forgetDeleted drops the entries of runs deleted since (when ids are all
// the runs), and says whether it dropped any.
func (s *Store) forgetDeleted(q runstore.Query, ids []string, idx map[string]indexEntry) bool {
	if q.IDPrefix != "" || len(idx) <= len(ids) {
		return false
	}
	have := make(map[string]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	for id := range idx {
		if !have[id] {
			delete(idx, id)
		}
	}
	return true
}

// pageRuns reads the runs of a page whole (those in read already are),
// leaving out those deleted or changed since the index said they matched
// q; ok is false when one fails check.
func (s *Store) pageRuns(ctx context.Context, keys []*runstore.RunMeta, read map[string]*runstore.RunMeta, q runstore.Query, check func(*runstore.RunMeta) bool) (_ []*runstore.RunMeta, _ runstore.DamagedRuns, ok bool) {
	runs := make([]*runstore.RunMeta, 0, len(keys))
	var damaged runstore.DamagedRuns
	for _, k := range keys {
		m := read[k.ID]
		if m == nil {
			var de *runstore.DamagedError
			if m, de = s.summaryOf(ctx, k.ID); m == nil {
				if de != nil {
					damaged = append(damaged, de)
				}
				continue // or deleted meanwhile
			}
		}
		if check != nil && !check(m) {
			return nil, nil, false
		}
		if (q.Flow != "" && m.Flow != q.Flow) || (q.Status != "" && m.Status != q.Status) {
			continue // changed since the index said it matched
		}
		runs = append(runs, m)
	}
	return runs, damaged, true
}

// sortDamaged is damaged in the order of its runs' ids, as an error (nil
// when there are none).
func sortDamaged(damaged runstore.DamagedRuns) error {
	if len(damaged) == 0 {
		return nil
	}
	sort.Slice(damaged, func(i, j int) bool { return damaged[i].RunID < damaged[j].RunID })
	return damaged
}

type runStat struct {
	info os.FileInfo
	err  error
}

// statRuns stats the run.json of each run, a few at a time: the stats are
// most of what a query of a big store costs.
func (s *Store) statRuns(ids []string) []runStat {
	out := make([]runStat, len(ids))
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				out[i].info, out[i].err = statRunJSON(s.RunDir(ids[i]) + string(filepath.Separator) + "run.json")
			}
		})
	}
	wg.Wait()
	return out
}

// exists fails, wrapping ErrNotFound, for a run that has no directory: a
// write must not make one (the run would be a ghost, listed as damaged).
func (s *Store) exists(id string) error {
	if !validID(id) {
		return fmt.Errorf("run %s: %w", id, runstore.ErrNotFound)
	}
	if _, err := os.Stat(s.RunDir(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("run %s: %w", id, runstore.ErrNotFound)
		}
		return fmt.Errorf("cannot read run %s: %w", id, err)
	}
	return nil
}

// Exists says whether the run's directory is there.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	err := s.exists(id)
	if errors.Is(err, runstore.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
