package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// chainFlow is n checkpoint value steps, each adding one to the previous.
func chainFlow(b *testing.B, n int) *flowspec.Flow { return chainFlowT(b, n) }

func chainFlowT(b testing.TB, n int) *flowspec.Flow {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("name: chain\nsteps:\n  s0:\n    kind: checkpoint\n    value: ${{ 0 }}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "  s%d:\n    kind: checkpoint\n    value: ${{ steps.s%d.output + 1 }}\n", i, i-1)
	}
	fmt.Fprintf(&sb, "output: ${{ steps.s%d.output }}\n", n-1)
	f, err := flowspec.Parse("chain.yaml", []byte(sb.String()), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func benchEngine(b *testing.B) *Engine {
	return New(Config{Store: filestore.New(b.TempDir())})
}

func mustRun(b *testing.B, e *Engine, f *flowspec.Flow) *Run {
	b.Helper()
	run, err := e.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil {
		b.Fatal(err)
	}
	if run.Status != RunCompleted {
		b.Fatalf("run %s: %v", run.Status, run.Error)
	}
	return run
}

// BenchmarkAtomicWrite is the baseline: one durable atomic write of a
// small record on this disk.
func BenchmarkAtomicWrite(b *testing.B) {
	p := filepath.Join(b.TempDir(), "result.json")
	data := []byte(strings.Repeat("x", 200))
	for b.Loop() {
		if err := fsutil.WriteFileAtomic(p, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChain300 reports what one step of a 300-step chain costs.
func BenchmarkChain300(b *testing.B) {
	f := chainFlow(b, 300)
	e := benchEngine(b)
	for b.Loop() {
		mustRun(b, e, f)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*300), "ns/step")
}

func benchReplay(b *testing.B, n int, parse bool) {
	f := chainFlow(b, n)
	e := benchEngine(b)
	src := mustRun(b, e, f)
	last := fmt.Sprintf("s%d", n-1)
	opts := ReplayOptions{Source: src.ID, From: last, Flow: f}
	if parse {
		opts.Flow = nil // compile the source's snapshot, as the command line does
	}
	for b.Loop() {
		run, err := e.Replay(context.Background(), opts)
		if err != nil || run.Status != RunCompleted {
			b.Fatalf("replay: %v %v", err, run)
		}
	}
}

// BenchmarkReplayFromLast1000 and BenchmarkReplay1Step: `replay --from`
// the last step of a 1,000-step run against a 1-step run (issue 11's goal,
// through the whole command: ≤ 2×; see BenchmarkCLIReplay).
// The Snapshot variants also compile the source's flow snapshot.
func BenchmarkReplayFromLast1000(b *testing.B)         { benchReplay(b, 1000, false) }
func BenchmarkReplay1Step(b *testing.B)                { benchReplay(b, 1, false) }
func BenchmarkReplayFromLast1000Snapshot(b *testing.B) { benchReplay(b, 1000, true) }
func BenchmarkReplay1StepSnapshot(b *testing.B)        { benchReplay(b, 1, true) }

// BenchmarkRun10000Steps reports the peak heap in use and the process's
// max RSS while a 10,000-step chain runs.
func BenchmarkRun10000Steps(b *testing.B) {
	f := chainFlow(b, 10000)
	e := benchEngine(b)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for b.Loop() {
		mustRun(b, e, f)
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	if mb, ok := maxRSSMB(); ok {
		b.ReportMetric(mb, "maxrss-MB")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/step")
}
