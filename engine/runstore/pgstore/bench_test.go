package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

var (
	seededOnce sync.Once
	seeded     *Store
	seedErr    error
)

// seed100k is a store of 100,000 runs, written by COPY, made once per
// test binary (a benchmark function runs several times).
func seed100k(b *testing.B) *Store {
	srv := shared(b)
	seededOnce.Do(func() {
		ctx := context.Background()
		seeded, seedErr = Open(ctx, srv.URL(), Options{Schema: "bench_100k"})
		if seedErr != nil {
			return
		}
		var n int
		if seedErr = seeded.pool.QueryRow(ctx, `SELECT count(*) FROM runs`).Scan(&n); seedErr != nil || n == 100_000 {
			return
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		plan, _ := json.Marshal(planRecord{Plan: []runstore.PlanStep{{ID: "fetch", Kind: flowspec.KindCheckpoint}, {ID: "sum", Kind: flowspec.KindLLM}}})
		flows := []string{"digest", "triage", "report", "translate"}
		statuses := []runstore.RunStatus{runstore.RunCompleted, runstore.RunCompleted, runstore.RunFailed, runstore.RunInterrupted}
		rows := make([][]any, 0, 100_000)
		for i := range 100_000 {
			at := t0.Add(time.Duration(i) * time.Second)
			end := at.Add(40 * time.Second)
			m := runstore.RunMeta{Run: runstore.Run{ID: fmt.Sprintf("kr-%08x", uint64(i)*2654435761%(1<<32)), Flow: flows[i%4], Status: statuses[(i/4)%4],
				Inputs: map[string]any{"topic": "otters", "n": i}, Usage: providers.Usage{InputTokens: 1200, OutputTokens: 300},
				CostUSD: 0.0042, StartedAt: at, EndedAt: &end, FlowFile: "/home/me/flows/" + flows[i%4] + ".yaml", WorkDir: "/home/me/flows"},
				UpdatedAt: end}
			mb, _ := json.Marshal(&m)
			rows = append(rows, []any{m.ID, m.Flow, string(m.Status), at, mb, plan, []byte("name: " + m.Flow + "\n")})
		}
		if _, seedErr = seeded.pool.CopyFrom(ctx, pgx.Identifier{"runs"}, []string{"id", "flow", "status", "started_at", "meta", "plan", "flow_source"}, pgx.CopyFromRows(rows)); seedErr != nil {
			return
		}
		_, seedErr = seeded.pool.Exec(ctx, `INSERT INTO run_seqs (run_id) SELECT id FROM runs; ANALYZE runs`)
	})
	if seedErr != nil {
		b.Fatalf("seeding 100,000 runs: %v", seedErr)
	}
	return seeded
}

// BenchmarkQueryFirstPage100k is `kitaru executions list` over 100,000
// runs: the first page of 21 (20 shown, one more tells of a next page),
// of all and of one flow.
func BenchmarkQueryFirstPage100k(b *testing.B) {
	s := seed100k(b)
	ctx := context.Background()
	for _, q := range []struct {
		name string
		q    runstore.Query
	}{
		{"all", runstore.Query{Limit: 21}},
		{"flow", runstore.Query{Flow: "triage", Limit: 21}},
		{"flow+status", runstore.Query{Flow: "triage", Status: runstore.RunFailed, Limit: 21}},
		{"prefix", runstore.Query{IDPrefix: "kr-1", Limit: 21}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.Query(ctx, q.q)
				if err != nil || len(page.Runs) == 0 {
					b.Fatalf("Query = %d runs, %v", len(page.Runs), err)
				}
			}
		})
	}
}

// BenchmarkStepChain300 is the store's cost of one step of a 300-step
// chain as the engine writes it: the step's record, then its
// step_started and step_finished events.
func BenchmarkStepChain300(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	var l *runstore.Lease
	i := 0
	for b.Loop() {
		if i%300 == 0 {
			if l != nil {
				_ = s.Release(ctx, l)
			}
			l = createRun(b, s)
		}
		cost := 0.001
		now := time.Now()
		r := &runstore.StepResult{ID: fmt.Sprint("s", i%300), Kind: flowspec.KindLLM, Status: runstore.StepCompleted, Attempts: 1,
			Output: "a short answer of the model", DurationMS: 812, Model: "openai/gpt-4o-mini", Usage: providers.Usage{InputTokens: 320, OutputTokens: 40},
			CostUSD: &cost, StartedAt: &now, EndedAt: &now, Fingerprint: "0123456789abcdef0123456789abcdef"}
		if err := s.SaveStep(ctx, l.RunID, r); err != nil {
			b.Fatal(err)
		}
		if err := s.AppendEvents(ctx, l.RunID,
			runstore.Event{Time: now, Type: runstore.EventStepStarted, RunID: l.RunID, Step: r.ID, Attempt: 1},
			runstore.Event{Time: now, Type: runstore.EventStepFinished, RunID: l.RunID, Step: r.ID, Result: r}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkOneCommit is one INSERT committed on the same server: the
// floor BenchmarkStepChain300 is measured against.
func BenchmarkOneCommit(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `CREATE TABLE one (n bigint, v bytea)`); err != nil {
		b.Fatal(err)
	}
	v := make([]byte, 200)
	n := 0
	for b.Loop() {
		n++
		if _, err := s.pool.Exec(ctx, `INSERT INTO one (n, v) VALUES ($1, $2)`, n, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventsPoll is one poll of a follower that has seen every
// event: what tailing by polling costs the server each interval.
func BenchmarkEventsPoll(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	l := createRun(b, s)
	for range 100 {
		_ = s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventStepStarted, Step: "a"})
	}
	for b.Loop() {
		if evs, _, err := s.Events(ctx, l.RunID, 100, 0); err != nil || len(evs) != 0 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkTailLatency is how long an event takes from its append to a
// follower polling every 20ms (the latency of tailing by polling: about
// half the interval plus one poll).
func BenchmarkTailLatency(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	l := createRun(b, s)
	const every = 20 * time.Millisecond
	var total time.Duration
	after := int64(0)
	for b.Loop() {
		start := time.Now()
		if err := s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventStepStarted, Step: "a"}); err != nil {
			b.Fatal(err)
		}
		// The follower's next poll falls anywhere in its interval.
		time.Sleep(time.Duration(time.Now().UnixNano() % int64(every)))
		for {
			evs, _, err := s.Events(ctx, l.RunID, after, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
				break
			}
			time.Sleep(every)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-latency")
}
