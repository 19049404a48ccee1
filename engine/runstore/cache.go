package runstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/providers"
)

// Cache keeps the answers of model calls across runs (an llm step's
// `cache:`), keyed by a hash of the exact resolved request, so that a
// step of any later run asking the same reuses the answer without a call.
// A team sharing a store shares its cache.
type Cache interface {
	// PutCached records the answer of a completed call under key (see
	// CheckCacheKey), replacing any entry it had; concurrent puts of one
	// key leave one of them whole.
	PutCached(ctx context.Context, key string, e *CacheEntry) error
	// GetCached reads the entry under key; nil, nil when there is none,
	// when it was recorded before since (a zero since takes any age), or
	// when it cannot be read (a damaged entry is a miss, never an error).
	// An error is the store's own failure (a server out of reach).
	GetCached(ctx context.Context, key string, since time.Time) (*CacheEntry, error)
}

// CacheLister is a Cache that can list its entries, so that a copy of
// one store into another takes the cache along.
type CacheLister interface {
	// EachCached calls fn with every entry that can be read (a damaged one
	// is a miss, and left out), in no set order; an error of fn stops it
	// and is returned.
	EachCached(ctx context.Context, fn func(key string, e *CacheEntry) error) error
}

// EachCacheRecord is EachCached for a backend that keeps entries as
// JSON: fn gets each of recs (the entry of keys[i]) that decodes.
func EachCacheRecord(keys []string, recs [][]byte, fn func(key string, e *CacheEntry) error) error {
	for i, k := range keys {
		var e CacheEntry
		if json.Unmarshal(recs[i], &e) != nil {
			continue
		}
		if err := fn(k, &e); err != nil {
			return err
		}
	}
	return nil
}

// CacheEntry is a cached answer: which run, step (and item) made the call,
// the answer as that step recorded it (secrets masked), what the call
// cost then, and when it was made.
type CacheEntry struct {
	Run     string          `json:"run"`
	Step    string          `json:"step"`
	Item    *int            `json:"item,omitempty"`
	Text    string          `json:"text"`
	Model   string          `json:"model"`
	Usage   providers.Usage `json:"usage"`
	CostUSD *float64        `json:"cost_usd"`
	At      time.Time       `json:"at"`
}

// CacheKeyLen is the length of a cache key: a SHA-256 in lower-case hex.
const CacheKeyLen = 64

// ErrBadCacheKey is wrapped by a put or get with a key that is not a
// SHA-256 in lower-case hex: keys are hashes, never request text.
var ErrBadCacheKey = errors.New("a cache key must be a SHA-256 in lower-case hex")

// CheckCacheKey refuses a key that is not a hash; every backend refuses
// the same keys, and a file backend may name a file after one.
func CheckCacheKey(key string) error {
	if len(key) != CacheKeyLen {
		return fmt.Errorf("%q: %w", key, ErrBadCacheKey)
	}
	for _, c := range key {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%q: %w", key, ErrBadCacheKey)
		}
	}
	return nil
}

// Fresh says whether an entry recorded at `at` may be taken by a reader
// that takes none recorded before since.
func Fresh(at, since time.Time) bool { return since.IsZero() || !at.Before(since) }
