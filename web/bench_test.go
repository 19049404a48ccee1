package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// BenchmarkRunsPage is the runs page's first request over a file store of
// 10,000 finished runs (the issue asks for under 100 ms).
func BenchmarkRunsPage(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).UTC()
	for i := range 10000 {
		id := fmt.Sprintf("kr-b%07d", i)
		meta := &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "quick", Status: engine.RunCompleted, StartedAt: start.Add(time.Duration(i) * time.Millisecond)},
			Plan: []runstore.PlanStep{{ID: "hello", Kind: "checkpoint"}}}
		l, err := h.files.Create(ctx, meta, []byte(quickFlow), runstore.Holder{Host: "bench", PID: 1}, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.files.Release(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", h.ts.URL+"/api/runs?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.ResetTimer()
	for b.Loop() {
		res, err := h.ts.Client().Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatal(res, err)
		}
		res.Body.Close()
	}
}
