package flowspec

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Cache is an llm step's `cache:` (defaults applied): whether its answer
// may come from a completed call of an earlier run with the exact same
// resolved request, and how old that answer may be (TTL; 0: any age).
type Cache struct {
	On  bool
	TTL time.Duration
}

var cacheFields = []string{"ttl"}

// cacheOf reads `cache:` where what names it in messages ("step "a"
// cache", "defaults cache"): true, false, or a mapping {ttl: 24h}, which
// turns it on. A mapping without ttl ({}) is cache: true, answers of any
// age: writing the mapping at all asks for the cache, and ttl only bounds
// it. An empty ttl (ttl: or ttl: null) is refused rather than read as
// that: it reads as if a bound were meant and left out.
func (l *loader) cacheOf(n *yaml.Node, what string) Cache {
	v := resolve(n)
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
		return Cache{On: v.Value == "true" || v.Value == "True" || v.Value == "TRUE"}
	case v.Kind == yaml.MappingNode:
		fs := l.fields(v, "cache field", cacheFields, nil)
		c := Cache{On: true}
		if t, ok := fs.get("ttl"); ok {
			if tv := resolve(t.val); tv.Kind == yaml.ScalarNode && tv.Tag == "!!null" {
				l.e.add(pos(tv), "%s ttl is empty; give a duration such as 24h, or leave ttl out (cache: true) to take answers of any age", what)
				return c
			}
			c.TTL = l.duration(t.val, what+" ttl")
		}
		return c
	}
	l.e.add(pos(v), "%s must be true, false or a mapping such as {ttl: 24h} ({} is the same as true), not %s", what, nodeKind(v))
	return Cache{}
}

// stepCache sets an llm step's cache: its own `cache:` replaces the
// defaults' whole.
func (c *stepCtx) stepCache(b *LLMStep, d Defaults) {
	b.Cache = d.Cache
	p, own := c.fs.get("cache")
	if own {
		b.Cache = c.l.cacheOf(p.val, c.field("cache"))
	}
	// A person's answer is not to be taken from an earlier run: a step
	// that may ask one is not cached (defaults.cache leaves it out).
	for _, t := range b.Tools {
		if t.Wait != nil && b.Cache.On {
			if own {
				c.l.e.add(pos(p.key), "step %q: cache does not go with tool %q, kind: wait (a person's answer is not taken from an earlier run)", c.s.ID, t.Name)
			}
			b.Cache = Cache{}
		}
	}
}
