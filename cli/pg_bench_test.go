package cli

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/internal/pgtest"
)

// 20 runs of 50 steps at once on one shared store, from 4 processes (5
// runs each): none fails, none loses a record; steps a second is the
// figure.
func BenchmarkPostgresConcurrentRuns(b *testing.B) {
	pgOnce.Do(func() { pgServer, pgWhy = pgtest.Shared() })
	if pgServer == nil {
		b.Skip(pgWhy)
	}
	var steps strings.Builder
	steps.WriteString("name: fifty\nsteps:\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&steps, "  s%d:\n    kind: checkpoint\n", i)
		if i > 0 {
			fmt.Fprintf(&steps, "    needs: [s%d]\n", i-1)
		}
		fmt.Fprintf(&steps, "    value: ${{ %d }}\n", i)
	}
	b.StopTimer()
	for n := 0; n < b.N; n++ {
		url := pgServer.DatabaseURL(b, fmt.Sprintf("bench%d_%d", time.Now().UnixNano()%1e9, pgDBs.Add(1)))
		machines := make([]*e2e, 4)
		for i := range machines {
			machines[i] = newE2E(b)
			machines[i].setenv("KITARU_STORE", url)
		}
		flow := machines[0].write("fifty.yaml", steps.String())
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for _, m := range machines {
			for r := 0; r < 5; r++ {
				wg.Add(1)
				go func(m *e2e) {
					defer wg.Done()
					cmd := exec.Command(m.bin, "run", flow, "--quiet")
					cmd.Env, cmd.Dir = m.Env, m.Dir
					if out, err := cmd.CombinedOutput(); err != nil {
						errs <- fmt.Sprintf("%v: %s", err, out)
					}
				}(m)
			}
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		close(errs)
		for e := range errs {
			b.Fatalf("a run failed: %s", e)
		}
		list := machines[1].must(0, "executions", "list", "--json", "--status", "completed")
		if got := strings.Count(list.Stdout, `"status": "completed"`) + strings.Count(list.Stdout, `"status":"completed"`); got != 20 {
			b.Fatalf("%d completed runs listed, want 20:\n%s", got, list.Stdout)
		}
		b.ReportMetric(float64(20*50)/elapsed.Seconds(), "steps/s")
	}
}
