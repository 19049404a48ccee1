package work

import (
	"context"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Cache is the run's view of the store's cache of model answers (an llm
// step's `cache:`). Keys are hashes of a call's resolved request.
type Cache interface {
	// Get returns the answer kept under key, not older than ttl (0: any
	// age); nil on a miss, and always nil in a run that does not read the
	// cache (--no-cache). An error is the store's, which the unit treats
	// as a miss.
	Get(ctx context.Context, key string, ttl time.Duration) (*runstore.CacheEntry, error)
	// Put keeps the answer of a completed call under key (written even
	// with --no-cache: the fresh answer replaces the old one). At is set
	// by the cache.
	Put(ctx context.Context, key string, e *runstore.CacheEntry) error
}
