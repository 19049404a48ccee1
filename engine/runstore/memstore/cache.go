package memstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// PutCached keeps the entry, as JSON like every record here.
func (s *Store) PutCached(ctx context.Context, key string, e *runstore.CacheEntry) error {
	if err := runstore.CheckCacheKey(key); err != nil {
		return err
	}
	b, err := encode(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string][]byte{}
	}
	s.cache[key] = b
	return nil
}

// GetCached reads the entry back; one that does not decode is a miss.
func (s *Store) GetCached(ctx context.Context, key string, since time.Time) (*runstore.CacheEntry, error) {
	if err := runstore.CheckCacheKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	b, ok := s.cache[key]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var e runstore.CacheEntry
	if json.Unmarshal(b, &e) != nil || !runstore.Fresh(e.At, since) {
		return nil, nil
	}
	return &e, nil
}

// DamageCached replaces an entry's record with bytes that do not decode:
// for the tests of a damaged entry.
func (s *Store) DamageCached(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string][]byte{}
	}
	s.cache[key] = []byte("{not json")
}
