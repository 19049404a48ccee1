package filestore

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
)

func TestCacheEntryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := New(dir)
	key := storetest.CacheKey("layout")
	e := &runstore.CacheEntry{Run: "kr-aaaaaaaa", Step: "a", Text: "hi", At: time.Now().UTC()}
	if err := s.PutCached(context.Background(), key, e); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cache", key[:2], key+".json")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("the entry is not at %s: %v", p, err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("entry mode = %v, want 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("the entry's directory holds %d files, want only the entry (no temporary file left)", len(ents))
	}
}

func TestCacheDamagedEntryIsAMiss(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"empty":        "",
		"torn":         `{"run":"kr-aaaaaaaa","text":"hal`,
		"not an entry": `[1,2,3]`,
		"no run":       `{"text":"who made me?"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := New(t.TempDir())
			key := storetest.CacheKey(name)
			p := s.cachePath(key)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetCached(context.Background(), key, time.Time{}); got != nil || err != nil {
				t.Errorf("GetCached of a %s entry = %+v, %v; want nil, nil (a miss)", name, got, err)
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		t.Parallel()
		s := New(t.TempDir())
		key := storetest.CacheKey("dir")
		if err := os.MkdirAll(s.cachePath(key), 0o700); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetCached(context.Background(), key, time.Time{})
		if got != nil || err != nil {
			t.Errorf("GetCached of a directory = %+v, %v; want a miss", got, err)
		}
	})
}
