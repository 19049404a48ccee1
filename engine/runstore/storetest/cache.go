package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

// CacheKey is a well-formed cache key made from s, for a backend's own
// tests of its cache.
func CacheKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func cacheEntry(run string, at time.Time) *runstore.CacheEntry {
	cost, item := 0.0042, 3
	return &runstore.CacheEntry{Run: run, Step: "summarise", Item: &item, Text: "otters hold hands ***",
		Model: "openai/gpt-4o-mini", Usage: providers.Usage{InputTokens: 120, OutputTokens: 30}, CostUSD: &cost, At: at}
}

func testCacheRoundTrip(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	key := CacheKey("round trip")
	want := cacheEntry("kr-aaaaaaaa", t0)
	if err := s.PutCached(ctx, key, want); err != nil {
		t.Fatalf("PutCached: %v", err)
	}
	got, err := s.GetCached(ctx, key, time.Time{})
	if err != nil || got == nil {
		t.Fatalf("GetCached = %v, %v; want the entry", got, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetCached = %+v\nwant %+v", got, want)
	}
	// A later put of the key replaces the entry.
	newer := cacheEntry("kr-bbbbbbbb", t0.Add(time.Hour))
	newer.Item, newer.CostUSD = nil, nil
	if err := s.PutCached(ctx, key, newer); err != nil {
		t.Fatalf("PutCached again: %v", err)
	}
	if got, err := s.GetCached(ctx, key, time.Time{}); err != nil || !reflect.DeepEqual(got, newer) {
		t.Errorf("GetCached after a second put = %+v, %v; want %+v", got, err, newer)
	}
}

func testCacheMisses(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	if got, err := s.GetCached(ctx, CacheKey("never put"), time.Time{}); got != nil || err != nil {
		t.Errorf("GetCached of a key never put = %+v, %v; want nil, nil", got, err)
	}
	key := CacheKey("old")
	if err := s.PutCached(ctx, key, cacheEntry("kr-aaaaaaaa", t0)); err != nil {
		t.Fatalf("PutCached: %v", err)
	}
	if got, err := s.GetCached(ctx, key, t0.Add(time.Second)); got != nil || err != nil {
		t.Errorf("GetCached of an entry older than since = %+v, %v; want a miss", got, err)
	}
	if got, err := s.GetCached(ctx, key, t0); got == nil || err != nil {
		t.Errorf("GetCached of an entry made at since = %+v, %v; want it", got, err)
	}
	for _, bad := range []string{"", "abc", "../../etc/passwd", CacheKey("x")[:63] + "G", "prompt: tell me a secret"} {
		if err := s.PutCached(ctx, bad, cacheEntry("kr-aaaaaaaa", t0)); !errors.Is(err, runstore.ErrBadCacheKey) {
			t.Errorf("PutCached(%q) = %v; want ErrBadCacheKey", bad, err)
		}
		if _, err := s.GetCached(ctx, bad, time.Time{}); !errors.Is(err, runstore.ErrBadCacheKey) {
			t.Errorf("GetCached(%q) = %v; want ErrBadCacheKey", bad, err)
		}
	}
}

func testCacheConcurrentPuts(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	key := CacheKey("raced")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := cacheEntry(fmt.Sprintf("kr-%08d", i), t0)
			e.Text = fmt.Sprintf("answer %d", i)
			errs <- s.PutCached(ctx, key, e)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutCached: %v", err)
		}
	}
	got, err := s.GetCached(ctx, key, time.Time{})
	if err != nil || got == nil {
		t.Fatalf("GetCached after concurrent puts = %v, %v", got, err)
	}
	// Whichever won, it is one put whole.
	var i int
	if _, err := fmt.Sscanf(got.Run, "kr-%08d", &i); err != nil || got.Text != fmt.Sprintf("answer %d", i) {
		t.Errorf("entry after concurrent puts mixes puts: run %s, text %q", got.Run, got.Text)
	}
}

// A store that lists its cache lists every entry put, as put, each once;
// fn's error stops the listing.
func testCacheList(t *testing.T, s runstore.Store) {
	l, ok := s.(runstore.CacheLister)
	if !ok {
		t.Skip("the store does not list its cache")
	}
	ctx := context.Background()
	want := map[string]*runstore.CacheEntry{}
	for i := range 3 {
		key := CacheKey(fmt.Sprint("listed ", i))
		want[key] = cacheEntry(fmt.Sprintf("kr-0000000%d", i), t0.Add(time.Duration(i)*time.Minute))
		if err := s.PutCached(ctx, key, want[key]); err != nil {
			t.Fatalf("PutCached: %v", err)
		}
	}
	got := map[string]*runstore.CacheEntry{}
	err := l.EachCached(ctx, func(key string, e *runstore.CacheEntry) error {
		if got[key] != nil {
			t.Errorf("EachCached gave %s twice", key)
		}
		got[key] = e
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("EachCached = %v (%d entries), want the %d put", err, len(got), len(want))
	}
	stop := errors.New("stop")
	n := 0
	if err := l.EachCached(ctx, func(string, *runstore.CacheEntry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachCached after fn failed = %v, %d calls; want fn's error after one", err, n)
	}
}
