package filestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// BenchmarkQueryFirstPage: the first page of 50 over 10,000 settled runs,
// through the index: the starts from it alone (by-start), against the way
// before, a stat of every run.json (stat); -count alternates the two.
func BenchmarkQueryFirstPage(b *testing.B) {
	s := New(b.TempDir())
	t0 := time.Now().Add(-time.Hour).UTC()
	var ids []string
	for i := range 10000 {
		id := fmt.Sprintf("kr-b%07d", i)
		m := &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "quick", Status: runstore.RunCompleted, StartedAt: t0.Add(time.Duration(i) * time.Millisecond)},
			Plan: []runstore.PlanStep{{ID: "hello", Kind: "checkpoint"}}}
		l, err := s.Create(bg, m, []byte("name: quick\n"), runstore.Holder{Host: "bench", PID: 1}, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(bg, l); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	settleB(b, s, ids)
	if _, err := s.Query(bg, runstore.Query{Limit: 50}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { byStart = true })
	for _, way := range []struct {
		name    string
		byStart bool
	}{{"stat", false}, {"by-start", true}} {
		b.Run(way.name, func(b *testing.B) {
			byStart = way.byStart
			for b.Loop() {
				if _, err := s.Query(bg, runstore.Query{Limit: 50}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
