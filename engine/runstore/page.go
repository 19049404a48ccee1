package runstore

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Newer orders runs newest first: by StartedAt, then by id.
func Newer(a, b *RunMeta) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.After(b.StartedAt)
	}
	return a.ID > b.ID
}

// cursorOf is where a page that ended with m goes on from.
func cursorOf(m *RunMeta) string {
	return m.StartedAt.UTC().Format(time.RFC3339Nano) + "/" + m.ID
}

// parseCursor reads a cursor back as the last run of the page before.
func parseCursor(c string) (*RunMeta, error) {
	ts, id, ok := strings.Cut(c, "/")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return nil, fmt.Errorf("the cursor %q is not one a query returned", c)
	}
	return &RunMeta{Run: Run{ID: id, StartedAt: t}}, nil
}

// PageOf sorts the runs a query selected, newest first, and cuts the page
// q asks for: what a backend that filters in memory returns. Metas is
// sorted in place.
func PageOf(metas []*RunMeta, q Query) (Page, error) {
	sort.SliceStable(metas, func(i, j int) bool { return Newer(metas[i], metas[j]) })
	if q.Cursor != "" {
		last, err := parseCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		i := sort.Search(len(metas), func(i int) bool { return Newer(last, metas[i]) })
		metas = metas[i:]
	}
	if q.Limit > 0 && len(metas) > q.Limit {
		return Page{Runs: metas[:q.Limit], Next: cursorOf(metas[q.Limit-1])}, nil
	}
	return Page{Runs: metas}, nil
}
