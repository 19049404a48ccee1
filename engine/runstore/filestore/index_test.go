package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// settle dates the run.json of each run back an hour, past the index's
// racy window, as the records of runs that ended a while ago are.
func settle(t *testing.T, s *Store, ids ...string) { settleB(t, s, ids) }

func settleB(t testing.TB, s *Store, ids []string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, id := range ids {
		if err := os.Chtimes(filepath.Join(s.RunDir(id), "run.json"), old, old); err != nil {
			t.Fatal(err)
		}
		old = old.Add(time.Millisecond) // each its own time
	}
}

func queryIDs(t *testing.T, s *Store, q runstore.Query) []string {
	t.Helper()
	page, err := s.Query(bg, q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	var ids []string
	for _, m := range page.Runs {
		ids = append(ids, m.ID)
	}
	return ids
}

// indexed is the runs the index file has entries for (nil: it cannot be
// read).
func indexed(t *testing.T, s *Store) []string {
	t.Helper()
	idx := s.readIndex()
	if idx == nil {
		return nil
	}
	var ids []string
	for _, id := range []string{"kr-a0000000", "kr-b0000000", "kr-c0000000", "kr-d0000000"} {
		if _, ok := idx[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func threeRuns(t *testing.T) *Store {
	t.Helper()
	s := New(t.TempDir())
	t0 := time.Now().Add(-time.Hour).UTC()
	for i, id := range []string{"kr-a0000000", "kr-b0000000", "kr-c0000000"} {
		mkRun(t, s, id, t0.Add(time.Duration(i)*time.Minute))
	}
	settle(t, s, "kr-a0000000", "kr-b0000000", "kr-c0000000")
	return s
}

// A query writes the index of settled runs, and the next one trusts it:
// a run.json whose size and time are the indexed ones is not read again
// (here one was garbled behind the index's back, times kept: a page
// without it reports nothing).
func TestIndexSparesReads(t *testing.T) {
	t.Parallel()
	s := threeRuns(t)
	if got := strings.Join(queryIDs(t, s, runstore.Query{}), " "); got != "kr-c0000000 kr-b0000000 kr-a0000000" {
		t.Fatalf("query: %s", got)
	}
	if got := strings.Join(indexed(t, s), " "); got != "kr-a0000000 kr-b0000000 kr-c0000000" {
		t.Fatalf("the index holds %q", got)
	}
	p := filepath.Join(s.RunDir("kr-a0000000"), "run.json")
	info, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte(strings.Repeat("x", int(info.Size()))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{Limit: 2}), " "); got != "kr-c0000000 kr-b0000000" {
		t.Fatalf("the first page: %s", got)
	}
	// On a page, a run is read whole: the garbled one is reported.
	_, err := s.Query(bg, runstore.Query{})
	var damaged runstore.DamagedRuns
	if !errors.As(err, &damaged) || len(damaged) != 1 || damaged[0].RunID != "kr-a0000000" {
		t.Errorf("the whole list: %v", err)
	}
}

// A run.json replaced since the index read it is read again: the query
// filters by what it says now.
func TestIndexStaleEntriesAreReadAgain(t *testing.T) {
	t.Parallel()
	s := threeRuns(t)
	queryIDs(t, s, runstore.Query{})
	m, err := s.LoadSummary(bg, "kr-b0000000")
	if err != nil {
		t.Fatal(err)
	}
	m.Status, m.Flow = runstore.RunFailed, "g"
	if err := s.SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{Status: runstore.RunFailed}), " "); got != "kr-b0000000" {
		t.Errorf("failed runs: %q", got)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{Flow: "f"}), " "); got != "kr-c0000000 kr-a0000000" {
		t.Errorf("runs of f: %q", got)
	}
	// Settled, the new record is indexed as it is now.
	settle(t, s, "kr-b0000000")
	queryIDs(t, s, runstore.Query{})
	if got := strings.Join(queryIDs(t, s, runstore.Query{Flow: "g"}), " "); got != "kr-b0000000" || len(indexed(t, s)) != 3 {
		t.Errorf("runs of g: %q; indexed %v", got, indexed(t, s))
	}
}

// A run.json changed within the racy window is not indexed (its time may
// not change with its next write); deleted runs leave the index; a new run
// is found without one.
func TestIndexRacyNewAndDeleted(t *testing.T) {
	t.Parallel()
	s := threeRuns(t)
	queryIDs(t, s, runstore.Query{})
	mkRun(t, s, "kr-d0000000", time.Now())
	if got := queryIDs(t, s, runstore.Query{Limit: 1}); len(got) != 1 || got[0] != "kr-d0000000" {
		t.Fatalf("the newest run: %v", got)
	}
	if got := strings.Join(indexed(t, s), " "); got != "kr-a0000000 kr-b0000000 kr-c0000000" {
		t.Errorf("a run just written is indexed: %q", got)
	}
	l, err := s.Acquire(bg, "kr-a0000000", runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(bg, l); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{}), " "); got != "kr-d0000000 kr-c0000000 kr-b0000000" {
		t.Errorf("after a delete: %q", got)
	}
	if got := strings.Join(indexed(t, s), " "); got != "kr-b0000000 kr-c0000000" {
		t.Errorf("the deleted run stays indexed: %q", got)
	}
}

// An index that cannot be used, whatever is wrong with it (what a crash or
// a power loss leaves: nothing, a part, an empty file), is rebuilt; a
// temporary one its writer left is swept once old.
func TestIndexRebuilt(t *testing.T) {
	t.Parallel()
	s := threeRuns(t)
	queryIDs(t, s, runstore.Query{})
	whole, err := os.ReadFile(s.indexPath())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(whole), "\n")
	for name, bad := range map[string]string{
		"empty":              "",
		"cut short":          strings.Join(lines[:3], ""),
		"without its end":    strings.Join(lines[:len(lines)-2], ""),
		"a count that lies":  strings.Join(lines[:len(lines)-2], "") + "end 7\n",
		"a line garbled":     lines[0] + "kr-a0000000 x y z completed \"f\"\n" + strings.Join(lines[2:], ""),
		"another version":    "kitaru runs index 9\n" + strings.Join(lines[1:], ""),
		"a status unknown":   strings.Replace(string(whole), " completed ", " finished ", 1),
		"text after its end": string(whole) + "kr-z0000000 1 2 3 completed \"f\"\n",
	} {
		if _, ok := parseIndex([]byte(bad)); ok {
			t.Errorf("an index %s is used", name)
		}
		if err := os.WriteFile(s.indexPath(), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(queryIDs(t, s, runstore.Query{}), " "); got != "kr-c0000000 kr-b0000000 kr-a0000000" {
			t.Errorf("with an index %s: %q", name, got)
		}
		if got := len(indexed(t, s)); got != 3 {
			t.Errorf("an index %s is not rebuilt (%d entries)", name, got)
		}
	}
	tmp := filepath.Join(s.Root(), indexName+".tmp-123")
	if err := os.WriteFile(tmp, []byte("kitaru"), 0o600); err != nil {
		t.Fatal(err)
	}
	queryIDs(t, s, runstore.Query{})
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a fresh temporary index is swept: %v", err)
	}
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(tmp, old, old)
	queryIDs(t, s, runstore.Query{})
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an old temporary index stays: %v", err)
	}
}

// A query that filters by neither flow nor status takes the runs' starts
// from the index without a stat of their run.json: only a run the index
// lacks is looked at. The page's runs are read whole, so a status another
// process changed since shows as it is now.
func TestIndexFirstPageWithoutStats(t *testing.T) {
	s := threeRuns(t)
	queryIDs(t, s, runstore.Query{})
	var stats atomic.Int64
	statRunJSON = func(p string) (os.FileInfo, error) { stats.Add(1); return os.Stat(p) }
	t.Cleanup(func() { statRunJSON = os.Stat })
	other := New(filepath.Dir(s.Root())) // another process's store
	m, err := other.LoadSummary(bg, "kr-b0000000")
	if err != nil {
		t.Fatal(err)
	}
	m.Status = runstore.RunFailed
	if err := other.SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	page, err := s.Query(bg, runstore.Query{Limit: 2})
	if err != nil || len(page.Runs) != 2 || page.Runs[0].ID != "kr-c0000000" || page.Runs[1].ID != "kr-b0000000" || page.Runs[1].Status != runstore.RunFailed {
		t.Fatalf("the first page: %+v, %v", page.Runs, err)
	}
	if n := stats.Load(); n != 0 {
		t.Errorf("the first page stat %d run.json files", n)
	}
	mkRun(t, s, "kr-d0000000", time.Now())
	if got := strings.Join(queryIDs(t, s, runstore.Query{Limit: 2}), " "); got != "kr-d0000000 kr-c0000000" {
		t.Errorf("with a new run: %q", got)
	}
	if n := stats.Load(); n != 1 {
		t.Errorf("a new run: %d stats, want its own alone", n)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{Status: runstore.RunFailed}), " "); got != "kr-b0000000" {
		t.Errorf("failed runs: %q", got)
	}
}

// A page's run whose start is not the one indexed (its record replaced
// by another process, as nothing in kitaru does) sends the query the way
// that checks every entry: the page is what the records say.
func TestIndexStartChangedOnThePage(t *testing.T) {
	t.Parallel()
	s := threeRuns(t)
	queryIDs(t, s, runstore.Query{})
	m, err := s.LoadSummary(bg, "kr-c0000000")
	if err != nil {
		t.Fatal(err)
	}
	m.StartedAt = m.StartedAt.Add(-24 * time.Hour)
	if err := New(filepath.Dir(s.Root())).SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{Limit: 1}), " "); got != "kr-b0000000" {
		t.Errorf("the newest run: %q", got)
	}
	if got := strings.Join(queryIDs(t, s, runstore.Query{}), " "); got != "kr-b0000000 kr-a0000000 kr-c0000000" {
		t.Errorf("the runs: %q", got)
	}
}

// Paged through, the index's starts give the pages the stats do, ties of
// start broken by id as runstore.Newer breaks them.
func TestIndexPagesByStart(t *testing.T) {
	s := New(t.TempDir())
	t0 := time.Now().Add(-time.Hour).UTC()
	var ids []string
	for i := range 9 {
		id := fmt.Sprintf("kr-p%07d", i)
		mkRun(t, s, id, t0.Add(time.Duration(i/3)*time.Minute)) // three at each start
		ids = append(ids, id)
	}
	settle(t, s, ids...)
	queryIDs(t, s, runstore.Query{})
	pages := func(limit int) string {
		var out []string
		q := runstore.Query{Limit: limit}
		for {
			page, err := s.Query(bg, q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range page.Runs {
				ids = append(ids, m.ID)
			}
			out = append(out, strings.Join(ids, " "))
			if page.Next == "" {
				return strings.Join(out, " | ")
			}
			q.Cursor = page.Next
		}
	}
	t.Cleanup(func() { byStart = true })
	for limit := 1; limit <= 8; limit++ {
		byStart = false
		want := pages(limit)
		byStart = true
		if got := pages(limit); got != want {
			t.Errorf("pages of %d: %s, want %s", limit, got, want)
		}
	}
}
