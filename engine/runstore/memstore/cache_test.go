package memstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

func TestCacheDamagedEntryIsAMiss(t *testing.T) {
	t.Parallel()
	s := New()
	key := strings.Repeat("ab", 32)
	if err := s.PutCached(context.Background(), key, &runstore.CacheEntry{Run: "kr-a", Text: "x", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.DamageCached(key)
	if got, err := s.GetCached(context.Background(), key, time.Time{}); got != nil || err != nil {
		t.Errorf("GetCached of a damaged entry = %+v, %v; want a miss", got, err)
	}
}
