package engine

import (
	"context"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

// An llm step with `cache:` takes the answer of a completed call of any
// earlier run whose resolved request was the same (see executors'
// cache.go for the key and flowspec's doc for the rules); the run's
// store keeps the answers, so a team sharing a store shares them. A
// cached unit records as any other (its reason says where the answer came
// from, its usage and cost are zero), so a replay or resume reuses it.

// runCache is a run's view of the store's cache: it reads nothing with
// --no-cache, ages entries by the engine's clock, and writes through the
// run's store context, so a stop never cuts a write short.
type runCache struct{ x *execution }

func (c runCache) Get(ctx context.Context, key string, ttl time.Duration) (*runstore.CacheEntry, error) {
	if c.x.meta.NoCache {
		return nil, nil
	}
	var since time.Time
	if ttl > 0 {
		since = c.x.e.now().Add(-ttl)
	}
	return c.x.st.GetCached(ctx, key, since)
}

func (c runCache) Put(_ context.Context, key string, e *runstore.CacheEntry) error {
	e.At = c.x.e.now().UTC()
	return c.x.st.PutCached(c.x.sc, key, e)
}

func (e *Engine) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}

// cachedWhy is the reason of a unit answered from the cache; why is why
// it ran in a replay (nil otherwise).
func cachedWhy(c *runstore.CacheEntry, why *Reason) *Reason {
	return &Reason{Code: runstore.ReasonCached, Run: c.Run, Step: c.Step, Item: c.Item, Though: why}
}

// WithNoCache makes this go at a run (and later ones) take no answer from
// the cache (--no-cache on resume and retry).
func WithNoCache() ContinueOption {
	return func(c *continueConfig) { c.noCache = true }
}

// Target says where the calls the budget lets through go, for the cache.
func (c budgetCaller) Target(req providers.Request) (providers.Target, bool) {
	return providers.TargetOf(c.next, req)
}
