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

// EachCached calls fn with each entry that decodes, in key order, read a
// page at a time (fn is not called while a query is open).
func (s *Store) EachCached(ctx context.Context, fn func(key string, e *runstore.CacheEntry) error) error {
	const page = 500
	after := ""
	for {
		var keys []string
		var recs [][]byte
		err := s.do(ctx, "reading the cache", func(ctx context.Context, _ bool) error {
			keys, recs = nil, nil
			rows, err := s.pool.Query(ctx, `SELECT key, entry FROM cache WHERE key > $1 ORDER BY key LIMIT $2`, after, page)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				var b []byte
				if err := rows.Scan(&k, &b); err != nil {
					return err
				}
				keys, recs = append(keys, k), append(recs, b)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		if err := runstore.EachCacheRecord(keys, recs, fn); err != nil {
			return err
		}
		if len(keys) < page {
			return nil
		}
		after = keys[len(keys)-1]
	}
}
