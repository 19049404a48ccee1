package engine

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
)

type zzObs struct{ n int }

func (o *zzObs) Event(ev Event) {
	if ev.Type == EventStepFinished {
		o.n++
		if o.n == 9000 {
			runtime.GC()
			f, _ := os.Create("/tmp/heap9000.pprof")
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
}

func TestZZHeap(t *testing.T) {
	if os.Getenv("ZZHEAP") == "" {
		t.Skip()
	}
	runtime.MemProfileRate = 4096
	f := chainFlowT(t, 10000)
	e := New(Config{Store: filestore.New(t.TempDir()), Observer: &zzObs{}})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("after parse: heap alloc %.1f MB", float64(ms.HeapAlloc)/(1<<20))
	run, err := e.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil || run.Status != RunCompleted {
		t.Fatal(err)
	}
}
