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
// turns it on.
func (l *loader) cacheOf(n *yaml.Node, what string) Cache {
	v := resolve(n)
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
		return Cache{On: v.Value == "true" || v.Value == "True" || v.Value == "TRUE"}
	case v.Kind == yaml.MappingNode:
		fs := l.fields(v, "cache field", cacheFields, nil)
		c := Cache{On: true}
		if t, ok := fs.get("ttl"); ok {
			c.TTL = l.duration(t.val, what+" ttl")
		}
		return c
	}
	l.e.add(pos(v), "%s must be true, false or a mapping such as {ttl: 24h}, not %s", what, nodeKind(v))
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
