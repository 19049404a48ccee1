package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// PutCached records the answer under key, replacing any entry: one
// upsert, whole.
func (s *Store) PutCached(ctx context.Context, key string, e *runstore.CacheEntry) error {
	if err := runstore.CheckCacheKey(key); err != nil {
		return err
	}
	b, err := encode(e)
	if err != nil {
		return err
	}
	return s.do(ctx, "caching an answer", func(ctx context.Context, _ bool) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO cache (key, entry) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET entry = excluded.entry`, key, b)
		return err
	})
}

// GetCached reads the entry under key; a damaged or older one is a miss.
func (s *Store) GetCached(ctx context.Context, key string, since time.Time) (*runstore.CacheEntry, error) {
	if err := runstore.CheckCacheKey(key); err != nil {
		return nil, err
	}
	var b []byte
	err := s.do(ctx, "reading the cache", func(ctx context.Context, _ bool) error {
		err := s.pool.QueryRow(ctx, `SELECT entry FROM cache WHERE key = $1`, key).Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) {
			b, err = nil, nil
		}
		return err
	})
	if err != nil || b == nil {
		return nil, err
	}
	var e runstore.CacheEntry
	if json.Unmarshal(b, &e) != nil || !runstore.Fresh(e.At, since) {
		return nil, nil
	}
	return &e, nil
}
