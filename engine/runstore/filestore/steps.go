package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// SaveStep writes steps/<step>/result.json atomically.
func (s *Store) SaveStep(ctx context.Context, id string, r *runstore.StepResult) error {
	dir := s.StepDir(id, r.ID)
	if err := s.ensureStepDir(ctx, id, r.ID); err != nil {
		return err
	}
	rec := *r
	rec.Items = nil // items have their own records
	rec.Dir = ""
	path := filepath.Join(dir, "result.json")
	hook("record:before-write", path)
	err := writeJSON(path, &rec, !bigOutput(rec.Output))
	hook("record:after-write", path)
	return err
}

// ensureStepDir makes the step's directory durable. The first time this
// process needs one in a run, it makes the directories of every step of
// the run's plan at once and syncs steps/ once: one fsync for the run
// instead of one per step. Others needing one meanwhile wait for it.
func (s *Store) ensureStepDir(ctx context.Context, id, step string) error {
	s.mu.Lock()
	p := s.prepared[id]
	if p == nil {
		p = &prepared{}
		s.prepared[id] = p
	}
	plan := s.plans[id]
	s.mu.Unlock()
	p.mu.Lock()
	if !p.done {
		if _, err := os.Stat(s.RunDir(id)); err != nil {
			p.mu.Unlock()
			return fmt.Errorf("run %s: %w", id, runstore.ErrNotFound)
		}
		if plan == nil {
			if m, err := s.LoadMeta(ctx, id); err == nil {
				plan = ownSteps(m)
			}
		}
		// A failure (a full disk) is tried again by the next record.
		if err := s.prepareSteps(id, plan); err != nil {
			p.mu.Unlock()
			return err
		}
		p.done = true
	}
	p.mu.Unlock()
	dir := s.StepDir(id, step)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	return mkdirDurable(dir) // a step the plan did not name
}

// ownSteps are the steps of a run's plan that can get records of its own:
// all but those a replay reused (their records stay in their runs), so a
// replay of the last step of a big run makes one directory, not one per
// step.
func ownSteps(m *runstore.RunMeta) []runstore.PlanStep {
	if len(m.Reused) == 0 {
		return m.Plan
	}
	n := 0
	for _, g := range m.Reused {
		n += len(g.Steps)
	}
	reused := make(map[string]bool, n)
	for _, g := range m.Reused {
		for _, st := range g.Steps {
			reused[st] = true
		}
	}
	own := make([]runstore.PlanStep, 0, len(m.Plan))
	for _, st := range m.Plan {
		if !reused[st.ID] {
			own = append(own, st)
		}
	}
	return own
}

// prepared is a run whose step directories this process made durable.
type prepared struct {
	mu   sync.Mutex
	done bool
}

// prepareSteps makes steps/<id>/ for each step of plan and syncs steps/.
func (s *Store) prepareSteps(id string, plan []runstore.PlanStep) error {
	parent := filepath.Join(s.RunDir(id), "steps")
	// Runs made before steps/ came with the run have none yet: the run
	// directory's sync below makes it durable.
	if err := os.Mkdir(parent, fsutil.DirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot create %s: %w", parent, err)
	}
	for _, st := range plan {
		err := os.Mkdir(filepath.Join(parent, st.ID), fsutil.DirPerm)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cannot create the directory of step %s: %w", st.ID, err)
		}
	}
	// Synced even when every directory was there: one made by something
	// that did not sync it (a step's command's process record) must not
	// vanish in a crash with the record the step is about to get.
	return fsutil.Together(
		func() error { return fsutil.SyncDir(s.RunDir(id)) },
		func() error { return fsutil.SyncDir(parent) })
}

// LoadStep reads one step record; nil, nil when there is none.
func (s *Store) LoadStep(ctx context.Context, id, step string) (*runstore.StepResult, error) {
	var r runstore.StepResult
	p := filepath.Join(s.StepDir(id, step), "result.json")
	problem, err := readJSON(p, &r)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	case problem != "":
		return nil, s.stepDamaged(id, step, -1, p, problem)
	case r.ID != step:
		return nil, s.stepDamaged(id, step, -1, p, fmt.Sprintf("is damaged (it holds step %q, not %s)", r.ID, step))
	case !knownStepStatus(r.Status):
		return nil, s.stepDamaged(id, step, -1, p, fmt.Sprintf("is damaged (its status %q is not a step status)", r.Status))
	}
	return &r, nil
}

// LoadSteps reads every step record of the run.
func (s *Store) LoadSteps(ctx context.Context, id string) (map[string]*runstore.StepResult, error) {
	out := map[string]*runstore.StepResult{}
	ents, err := os.ReadDir(filepath.Join(s.RunDir(id), "steps"))
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
		r, err := s.LoadStep(ctx, id, e.Name())
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
func (s *Store) SaveItem(ctx context.Context, id, step string, r *runstore.ItemResult) error {
	dir, err := s.recordDir(ctx, id, step, "items")
	if err != nil {
		return err
	}
	return s.writeJSONShared(filepath.Join(dir, strconv.Itoa(r.Index)+".json"), r, !bigOutput(r.Output))
}

// recordDir is steps/<step>/<name>/, made durable the first time.
func (s *Store) recordDir(ctx context.Context, id, step, name string) (string, error) {
	dir := filepath.Join(s.StepDir(id, step), name)
	if _, err := os.Stat(dir); err != nil {
		if err := s.ensureStepDir(ctx, id, step); err != nil {
			return "", err
		}
		if err := mkdirDurable(dir); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// LoadItems reads every item record of a foreach step.
func (s *Store) LoadItems(ctx context.Context, id, step string) (map[int]*runstore.ItemResult, error) {
	out := map[int]*runstore.ItemResult{}
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
		var r runstore.ItemResult
		p := filepath.Join(dir, name)
		problem, err := readJSON(p, &r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot read %s: %w", p, err))
			continue
		case problem != "":
			errs = append(errs, s.stepDamaged(id, step, n, p, problem))
			continue
		}
		r.Index = n
		out[n] = &r
	}
	return out, errors.Join(errs...)
}

// ForgetStep removes a step's result.json.
func (s *Store) ForgetStep(ctx context.Context, id, step string) error {
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

// artifactPath is where a step's artifact is; a name that would leave the
// step's directory, or take the name of a record, is refused.
func (s *Store) artifactPath(id, step, name string) (string, error) {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return "", err
	}
	return filepath.Join(s.StepDir(id, step), name), nil
}

// WriteArtifact replaces steps/<step>/<name> atomically and syncs it; its
// directory is synced once, when the run's lease is released (see
// syncDirLater): a step's artifacts (the prompt sent, the answer received)
// are what its record tells already, and a foreach of many model calls
// would sync the directory twice per call. The engine writes artifacts
// off the path that frees a unit's place among the run's parallel ones.
func (s *Store) WriteArtifact(ctx context.Context, id, step, name string, data []byte) error {
	p, err := s.artifactPath(id, step, name)
	if err != nil {
		return err
	}
	if err := s.ensureStepDir(ctx, id, step); err != nil {
		return err
	}
	if err := fsutil.ReplaceFileSynced(p, data); err != nil {
		return err
	}
	s.syncDirLater(id, filepath.Dir(p))
	return nil
}

// ReadArtifact reads steps/<step>/<name>.
func (s *Store) ReadArtifact(ctx context.Context, id, step, name string) ([]byte, error) {
	p, err := s.artifactPath(id, step, name)
	if err != nil {
		return nil, err
	}
	data, err := readRegular(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("step %s of run %s has no %s: %w", step, id, name, runstore.ErrNoArtifact)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	}
	return data, nil
}

// Artifacts names the files of steps/<step>/ that are artifacts: all but
// its record, its items and temporary files.
func (s *Store) Artifacts(ctx context.Context, id, step string) ([]string, error) {
	ents, err := os.ReadDir(s.StepDir(id, step))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the artifacts of step %s: %w", step, err)
	}
	var out []string
	for _, e := range ents {
		if _, err := s.artifactPath(id, step, e.Name()); err == nil && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteArtifact removes steps/<step>/<name>.
func (s *Store) DeleteArtifact(ctx context.Context, id, step, name string) error {
	p, err := s.artifactPath(id, step, name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", p, err)
	}
	return nil
}
