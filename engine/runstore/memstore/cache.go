package memstore

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
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

// EachCached calls fn with each entry that decodes, in key order.
func (s *Store) EachCached(ctx context.Context, fn func(key string, e *runstore.CacheEntry) error) error {
	s.mu.Lock()
	keys := slices.Sorted(maps.Keys(s.cache))
	recs := make([][]byte, len(keys))
	for i, k := range keys {
		recs[i] = s.cache[k]
	}
	s.mu.Unlock()
	return runstore.EachCacheRecord(keys, recs, fn)
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
