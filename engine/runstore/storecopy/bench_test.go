package storecopy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storecopy"
	"github.com/kitaruhq/kitaru/flowspec"
)

// benchFlow is a run of 22 records: two steps, and a foreach of 20 items.
const benchFlow = `name: copied
steps:
  a:
    kind: checkpoint
    value: one
  b:
    kind: checkpoint
    foreach: ${{ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] }}
    value: ${{ item * 10 }}
output: ${{ steps.a.output }}
`

// BenchmarkCopyToPostgres is `kitaru store copy` of a file store's 50
// runs of benchFlow into an empty PostgreSQL store; ms/run is one run's
// copy.
func BenchmarkCopyToPostgres(b *testing.B) {
	if server == nil {
		b.Skip("no PostgreSQL server binaries")
	}
	ctx := context.Background()
	f, err := flowspec.Parse("copied.yaml", []byte(benchFlow), flowspec.Options{})
	if err != nil {
		b.Fatal(err)
	}
	const runs = 50
	from := filestore.New(b.TempDir())
	eng := engine.New(engine.Config{Store: from, WorkDir: b.TempDir()})
	for range runs {
		if _, err := eng.Start(ctx, engine.StartOptions{Flow: f}); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		to, err := pgstore.Open(ctx, server.DatabaseURL(b, fmt.Sprint("bench_copy_", n)), pgstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := storecopy.Copy(ctx, from, to, runstore.Holder{Host: "bench", PID: 1})
		if err != nil || rep.Count(storecopy.Copied) != runs {
			b.Fatalf("copied %d runs, %v", rep.Count(storecopy.Copied), err)
		}
		b.StopTimer()
		to.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*runs)/1000, "ms/run")
}
