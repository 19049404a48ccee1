package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

var _ runstore.Store = (*Store)(nil)

var errNotYet = errors.New("pgstore: not yet")

func (s *Store) NewID(ctx context.Context) (string, error) { return "", errNotYet }
func (s *Store) Create(ctx context.Context, meta *runstore.RunMeta, flowSource []byte, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	return nil, errNotYet
}
func (s *Store) SaveMeta(ctx context.Context, meta *runstore.RunMeta) error { return errNotYet }
func (s *Store) LoadMeta(ctx context.Context, id string) (*runstore.RunMeta, error) {
	return nil, errNotYet
}
func (s *Store) LoadSummary(ctx context.Context, id string) (*runstore.RunMeta, error) {
	return nil, errNotYet
}
func (s *Store) FlowSource(ctx context.Context, id string) ([]byte, error) { return nil, errNotYet }
func (s *Store) ReplaceFlow(ctx context.Context, meta *runstore.RunMeta, flowSource []byte) error {
	return errNotYet
}
func (s *Store) Exists(ctx context.Context, id string) (bool, error) { return false, errNotYet }
func (s *Store) Query(ctx context.Context, q runstore.Query) (runstore.Page, error) {
	return runstore.Page{}, errNotYet
}
func (s *Store) Delete(ctx context.Context, l *runstore.Lease) error { return errNotYet }
func (s *Store) SaveStep(ctx context.Context, id string, r *runstore.StepResult) error {
	return errNotYet
}
func (s *Store) LoadStep(ctx context.Context, id, step string) (*runstore.StepResult, error) {
	return nil, errNotYet
}
func (s *Store) LoadSteps(ctx context.Context, id string) (map[string]*runstore.StepResult, error) {
	return nil, errNotYet
}
func (s *Store) SaveItem(ctx context.Context, id, step string, r *runstore.ItemResult) error {
	return errNotYet
}
func (s *Store) LoadItems(ctx context.Context, id, step string) (map[int]*runstore.ItemResult, error) {
	return nil, errNotYet
}
func (s *Store) SaveTurn(ctx context.Context, id, step string, r *runstore.TurnRecord) error {
	return errNotYet
}
func (s *Store) LoadTurns(ctx context.Context, id, step string, item *int) ([]*runstore.TurnRecord, error) {
	return nil, errNotYet
}
func (s *Store) ForgetStep(ctx context.Context, id, step string) error { return errNotYet }
func (s *Store) WriteArtifact(ctx context.Context, id, step, name string, data []byte) error {
	return errNotYet
}
func (s *Store) ReadArtifact(ctx context.Context, id, step, name string) ([]byte, error) {
	return nil, errNotYet
}
func (s *Store) Artifacts(ctx context.Context, id, step string) ([]string, error) {
	return nil, errNotYet
}
func (s *Store) DeleteArtifact(ctx context.Context, id, step, name string) error { return errNotYet }
func (s *Store) AppendEvents(ctx context.Context, id string, evs ...runstore.Event) error {
	return errNotYet
}
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]runstore.Event, []string, error) {
	return nil, nil, errNotYet
}
func (s *Store) AppendLog(ctx context.Context, id string, lines ...runstore.LogLine) error {
	return errNotYet
}
func (s *Store) Logs(ctx context.Context, id string, after int64) ([]runstore.LogLine, error) {
	return nil, errNotYet
}
func (s *Store) Acquire(ctx context.Context, id string, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	return nil, errNotYet
}
func (s *Store) Renew(ctx context.Context, l *runstore.Lease) error   { return errNotYet }
func (s *Store) Release(ctx context.Context, l *runstore.Lease) error { return errNotYet }
func (s *Store) Holder(ctx context.Context, id string) (*runstore.Holder, error) {
	return nil, errNotYet
}
func (s *Store) RequestCancel(ctx context.Context, id string) error { return errNotYet }
func (s *Store) CancelRequested(ctx context.Context, l *runstore.Lease) (bool, error) {
	return false, errNotYet
}
func (s *Store) ClearCancel(ctx context.Context, id string) error { return errNotYet }
func (s *Store) PutCached(ctx context.Context, key string, e *runstore.CacheEntry) error {
	return errNotYet
}
func (s *Store) GetCached(ctx context.Context, key string, since time.Time) (*runstore.CacheEntry, error) {
	return nil, errNotYet
}
