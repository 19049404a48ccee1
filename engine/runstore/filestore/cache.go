package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// The cache of model answers is <data dir>/cache/<key[:2]>/<key>.json, one
// file per key, written atomically (0600): a run's records never point
// into it, so removing the directory only costs the calls again. The two
// hex characters keep a large cache from making one huge directory.

// CacheDir is where the cached answers are.
func (s *Store) CacheDir() string { return filepath.Join(filepath.Dir(s.root), "cache") }

func (s *Store) cachePath(key string) string {
	return filepath.Join(s.CacheDir(), key[:2], key+".json")
}

// PutCached writes the entry's file atomically; of concurrent puts of a
// key, the last rename wins, and each file is whole.
func (s *Store) PutCached(ctx context.Context, key string, e *runstore.CacheEntry) error {
	if err := runstore.CheckCacheKey(key); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeUnsynced(s.cachePath(key), data)
}

// writeUnsynced replaces path atomically (temporary file, rename) without
// waiting for the disk: an entry a crash loses or leaves empty is a miss,
// which costs one call again, so a paid call need not wait for an fsync.
func writeUnsynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, fsutil.DirPerm); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(fsutil.FilePerm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// GetCached reads the entry's file. A file that is not a regular file, is
// empty or does not decode is a miss: the call is made again and its
// answer replaces it.
func (s *Store) GetCached(ctx context.Context, key string, since time.Time) (*runstore.CacheEntry, error) {
	if err := runstore.CheckCacheKey(key); err != nil {
		return nil, err
	}
	var e runstore.CacheEntry
	problem, err := readJSON(s.cachePath(key), &e)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case problem != "" || e.Run == "" || !runstore.Fresh(e.At, since):
		return nil, nil
	}
	return &e, nil
}

// EachCached calls fn with each entry file that reads, in the order of
// their names.
func (s *Store) EachCached(ctx context.Context, fn func(key string, e *runstore.CacheEntry) error) error {
	files, err := filepath.Glob(filepath.Join(s.CacheDir(), "??", "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), ".json")
		if runstore.CheckCacheKey(key) != nil || filepath.Base(filepath.Dir(f)) != key[:2] {
			continue // not a file PutCached wrote
		}
		e, err := s.GetCached(ctx, key, time.Time{})
		if err != nil {
			return err
		}
		if e == nil {
			continue // removed meanwhile, or damaged: a miss
		}
		if err := fn(key, e); err != nil {
			return err
		}
	}
	return nil
}
