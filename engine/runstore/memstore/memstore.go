// Package memstore is a run store in memory: the fake the engine's unit
// tests run on, and a model of runstore.Store's contract small enough to
// read in one sitting. Records are kept as JSON, as a real backend keeps
// them, so a caller that changes a record after saving it changes nothing
// stored. Leases expire by time, as a shared backend's do.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Store keeps runs in memory.
type Store struct {
	mu      sync.Mutex
	runs    map[string]*run
	cancels int64             // cancel requests made, numbering each
	cache   map[string][]byte // cached answers by key, as JSON (see cache.go)
	// Now is the clock leases expire by; tests may replace it.
	Now func() time.Time
}

type run struct {
	meta      []byte
	plan      []byte
	flow      []byte
	steps     map[string][]byte
	items     map[string]map[int][]byte
	turns     map[turnKey][]byte
	artifacts map[string]map[string][]byte
	events    [][]byte
	logs      []runstore.LogLine
	lease     *runstore.Lease
	cancel    int64 // the number of the last cancel request; 0: none
	// cancelSeen is the last request made before lease was taken: only
	// a later one is for it.
	cancelSeen int64
}

// New makes an empty store.
func New() *Store {
	return &Store{runs: map[string]*run{}, Now: time.Now}
}

var _ runstore.Store = (*Store)(nil)

func notFound(id string) error { return fmt.Errorf("run %s: %w", id, runstore.ErrNotFound) }

// get is the run id; the caller holds mu.
// update changes run id's state with f, under the store's lock.
func (s *Store) update(id string, f func(r *run)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	f(r)
	return nil
}

func (s *Store) get(id string) (*run, error) {
	r, ok := s.runs[id]
	if !ok {
		return nil, notFound(id)
	}
	return r, nil
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode a record: %w", err)
	}
	return b, nil
}

func decode[T any](b []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("cannot decode a record: %w", err)
	}
	return &v, nil
}

// NewID makes a fresh id, as the file store does.
func (s *Store) NewID(ctx context.Context) (string, error) {
	for {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("cannot make a run id: %w", err)
		}
		id := "kr-" + hex.EncodeToString(b[:])[:8]
		s.mu.Lock()
		_, taken := s.runs[id]
		s.mu.Unlock()
		if !taken {
			return id, nil
		}
	}
}

type planRecord struct {
	Plan   []runstore.PlanStep    `json:"plan"`
	Reused []runstore.ReusedGroup `json:"reused,omitempty"`
}

// Create records the run and leases it, under one lock: all or nothing.
func (s *Store) Create(ctx context.Context, meta *runstore.RunMeta, flowSource []byte, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	meta.UpdatedAt = s.Now().UTC()
	m := *meta
	m.Steps, m.Plan, m.Reused, m.Dir = nil, nil, nil, ""
	mb, err := encode(&m)
	if err != nil {
		return nil, err
	}
	pb, err := encode(&planRecord{Plan: meta.Plan, Reused: meta.Reused})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[meta.ID]; ok {
		return nil, fmt.Errorf("cannot create run %s: it already exists", meta.ID)
	}
	r := &run{meta: mb, plan: pb, flow: append([]byte(nil), flowSource...),
		steps: map[string][]byte{}, items: map[string]map[int][]byte{}, artifacts: map[string]map[string][]byte{}}
	s.runs[meta.ID] = r
	return s.lease(meta.ID, r, holder, ttl), nil
}

// SaveMeta replaces the run's meta.
func (s *Store) SaveMeta(ctx context.Context, meta *runstore.RunMeta) error {
	meta.UpdatedAt = s.Now().UTC()
	m := *meta
	m.Steps, m.Plan, m.Reused, m.Dir = nil, nil, nil, ""
	mb, err := encode(&m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(meta.ID)
	if err != nil {
		return err
	}
	r.meta = mb
	return nil
}

// LoadMeta reads the run's meta with its plan.
func (s *Store) LoadMeta(ctx context.Context, id string) (*runstore.RunMeta, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var mb, pb []byte
	if err == nil {
		mb, pb = r.meta, r.plan
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m, err := decode[runstore.RunMeta](mb)
	if err != nil {
		return nil, err
	}
	p, err := decode[planRecord](pb)
	if err != nil {
		return nil, err
	}
	m.Plan, m.Reused = p.Plan, p.Reused
	return m, nil
}

// LoadSummary reads the run's meta without its plan.
func (s *Store) LoadSummary(ctx context.Context, id string) (*runstore.RunMeta, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var mb []byte
	if err == nil {
		mb = r.meta
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return decode[runstore.RunMeta](mb)
}

// FlowSource returns the run's flow snapshot.
func (s *Store) FlowSource(ctx context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), r.flow...), nil
}

// Query filters every run in memory.
func (s *Store) Query(ctx context.Context, q runstore.Query) (runstore.Page, error) {
	s.mu.Lock()
	var metas []*runstore.RunMeta
	for id, r := range s.runs {
		if !strings.HasPrefix(id, q.IDPrefix) {
			continue
		}
		m, err := decode[runstore.RunMeta](r.meta)
		if err != nil {
			s.mu.Unlock()
			return runstore.Page{}, err // what it encoded itself: never
		}
		if (q.Flow != "" && m.Flow != q.Flow) || (q.Status != "" && m.Status != q.Status) {
			continue
		}
		metas = append(metas, m)
	}
	s.mu.Unlock()
	return runstore.PageOf(metas, q)
}

// SaveStep records a step's result.
func (s *Store) SaveStep(ctx context.Context, id string, sr *runstore.StepResult) error {
	rec := *sr
	rec.Items, rec.Dir = nil, ""
	b, err := encode(&rec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	r.steps[sr.ID] = b
	return nil
}

// LoadStep reads a step's record; nil, nil when it has none.
func (s *Store) LoadStep(ctx context.Context, id, step string) (*runstore.StepResult, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var b []byte
	if err == nil {
		b = r.steps[step]
	}
	s.mu.Unlock()
	if err != nil || b == nil {
		return nil, err
	}
	return decode[runstore.StepResult](b)
}

// LoadSteps reads every step record of the run.
func (s *Store) LoadSteps(ctx context.Context, id string) (map[string]*runstore.StepResult, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var recs map[string][]byte
	if err == nil {
		recs = maps.Clone(r.steps)
	}
	s.mu.Unlock()
	return decodeAll[string, runstore.StepResult](recs, err, nil)
}

// SaveItem records an item of a foreach step.
func (s *Store) SaveItem(ctx context.Context, id, step string, ir *runstore.ItemResult) error {
	b, err := encode(ir)
	if err != nil {
		return err
	}
	return s.update(id, func(r *run) {
		if r.items[step] == nil {
			r.items[step] = map[int][]byte{}
		}
		r.items[step][ir.Index] = b
	})
}

// LoadItems reads every item record of a foreach step.
func (s *Store) LoadItems(ctx context.Context, id, step string) (map[int]*runstore.ItemResult, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var recs map[int][]byte
	if err == nil {
		recs = maps.Clone(r.items[step])
	}
	s.mu.Unlock()
	return decodeAll(recs, err, func(k int, ir *runstore.ItemResult) { ir.Index = k })
}

// decodeAll decodes records copied out from under the lock (so decoding
// holds no one up); err is the lookup's, returned with an empty map.
func decodeAll[K comparable, T any](recs map[K][]byte, err error, fix func(K, *T)) (map[K]*T, error) {
	out := make(map[K]*T, len(recs))
	if err != nil {
		return out, err
	}
	for k, b := range recs {
		v, err := decode[T](b)
		if err != nil {
			return out, err
		}
		if fix != nil {
			fix(k, v)
		}
		out[k] = v
	}
	return out, nil
}

// ForgetStep removes a step's record.
func (s *Store) ForgetStep(ctx context.Context, id, step string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	delete(r.steps, step)
	return nil
}

// WriteArtifact keeps a blob beside a step's record.
func (s *Store) WriteArtifact(ctx context.Context, id, step, name string, data []byte) error {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	if r.artifacts[step] == nil {
		r.artifacts[step] = map[string][]byte{}
	}
	r.artifacts[step][name] = append([]byte(nil), data...)
	return nil
}

// ReadArtifact reads a blob back.
func (s *Store) ReadArtifact(ctx context.Context, id, step, name string) ([]byte, error) {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, err
	}
	b, ok := r.artifacts[step][name]
	if !ok {
		return nil, fmt.Errorf("step %s of run %s has no %s: %w", step, id, name, runstore.ErrNoArtifact)
	}
	return append([]byte(nil), b...), nil
}

// Artifacts names a step's artifacts, sorted.
func (s *Store) Artifacts(ctx context.Context, id, step string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, err
	}
	var out []string
	for n := range r.artifacts[step] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// DeleteArtifact removes a blob.
func (s *Store) DeleteArtifact(ctx context.Context, id, step, name string) error {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	delete(r.artifacts[step], name)
	return nil
}

// AppendEvents numbers and keeps events.
func (s *Store) AppendEvents(ctx context.Context, id string, evs ...runstore.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		ev.Seq = int64(len(r.events) + 1)
		b, err := encode(&ev)
		if err != nil {
			return err
		}
		r.events = append(r.events, b)
	}
	return nil
}

// Events returns the events after seq `after`.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]runstore.Event, []string, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var recs [][]byte
	if err == nil && after < int64(len(r.events)) {
		recs = r.events[max(after, 0):]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	out := make([]runstore.Event, 0, len(recs))
	for _, b := range recs {
		ev, err := decode[runstore.Event](b)
		if err != nil {
			return out, nil, err
		}
		out = append(out, *ev)
	}
	return out, nil, nil
}

// AppendLog keeps log lines, numbered.
func (s *Store) AppendLog(ctx context.Context, id string, lines ...runstore.LogLine) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	for _, l := range lines {
		l.Seq = int64(len(r.logs) + 1)
		if l.Item != nil {
			n := *l.Item
			l.Item = &n
		}
		l.Time = l.Time.UTC()
		l.Text = strings.ReplaceAll(l.Text, "\n", " ")
		r.logs = append(r.logs, l)
	}
	return nil
}

// Logs returns the log lines after seq `after`.
func (s *Store) Logs(ctx context.Context, id string, after int64) ([]runstore.LogLine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if after >= int64(len(r.logs)) {
		return nil, nil
	}
	return append([]runstore.LogLine(nil), r.logs[max(after, 0):]...), nil
}

// lease gives run r to holder; the caller holds mu. A ttl of 0 never
// expires.
func (s *Store) lease(id string, r *run, holder runstore.Holder, ttl time.Duration) *runstore.Lease {
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	l := &runstore.Lease{RunID: id, Holder: holder, Token: hex.EncodeToString(tok[:]), TTL: ttl}
	if ttl > 0 {
		l.Expires = s.Now().Add(ttl)
	}
	cp := *l
	r.lease, r.cancelSeen = &cp, r.cancel
	return l
}

// live says whether l still holds; the caller holds mu.
func (s *Store) live(l *runstore.Lease) bool {
	return l != nil && (l.Expires.IsZero() || s.Now().Before(l.Expires))
}

// Acquire leases the run unless another live lease holds it.
func (s *Store) Acquire(ctx context.Context, id string, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if s.live(r.lease) {
		return nil, &runstore.HeldError{RunID: id, Holder: r.lease.Holder}
	}
	return s.lease(id, r, holder, ttl), nil
}

// Renew extends a live lease by its ttl.
func (s *Store) Renew(ctx context.Context, l *runstore.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.held(l)
	if err != nil {
		return err
	}
	if l.TTL > 0 {
		l.Expires = s.Now().Add(l.TTL)
		r.lease.Expires = l.Expires
	}
	return nil
}

// Release gives the lease up, if it is still the run's.
func (s *Store) Release(ctx context.Context, l *runstore.Lease) error {
	if l == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[l.RunID]; ok && r.lease != nil && r.lease.Token == l.Token {
		r.lease = nil
	}
	return nil
}

// Delete removes the run of a live lease l, in one step under the lock.
func (s *Store) Delete(ctx context.Context, l *runstore.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.held(l); err != nil {
		return err
	}
	delete(s.runs, l.RunID)
	return nil
}

// held is the run of lease l while l is live and the run's; the caller
// holds mu.
func (s *Store) held(l *runstore.Lease) (*run, error) {
	r, err := s.get(l.RunID)
	if err != nil {
		return nil, err
	}
	if r.lease == nil || r.lease.Token != l.Token || !s.live(r.lease) {
		return nil, fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	return r, nil
}

// Holder tells who holds a live lease on the run.
func (s *Store) Holder(ctx context.Context, id string) (*runstore.Holder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return nil, nil // like a run with no lock file: nobody holds it
	}
	if !s.live(r.lease) {
		return nil, nil
	}
	h := r.lease.Holder
	return &h, nil
}

// RequestCancel asks whoever holds the run now to stop.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	s.cancels++
	r.cancel = s.cancels
	return nil
}

// CancelRequested tells whether a cancel was asked since l was taken.
func (s *Store) CancelRequested(ctx context.Context, l *runstore.Lease) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(l.RunID)
	if err != nil {
		return false, err
	}
	if r.lease == nil || r.lease.Token != l.Token {
		return false, fmt.Errorf("run %s: %w", l.RunID, runstore.ErrLeaseLost)
	}
	return r.cancel > r.cancelSeen, nil
}

// ClearCancel forgets the requests.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(id)
	if err != nil {
		return err
	}
	r.cancel, r.cancelSeen = 0, 0
	return nil
}

// Exists says whether the run is kept.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.runs[id]
	return ok, nil
}
