package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

// faultStore is a real file store whose writes fail, with err, at the calls
// named in fail (how many times each), as a full disk makes them fail: no
// root or tmpfs needed, so these tests run, and can fail, everywhere.
// Names: "step:ID", "item:ID#N", "meta:STATUS", "event:TYPE".
type faultStore struct {
	runstore.Store
	err  error
	mu   sync.Mutex
	fail map[string]int
	hit  map[string]int // the failures that happened
}

func (s *faultStore) fault(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[name] == 0 {
		return nil
	}
	s.fail[name]--
	s.hit[name]++
	return &os.PathError{Op: "write", Path: name, Err: s.err}
}

func (s *faultStore) SaveStep(ctx context.Context, id string, r *StepResult) error {
	if err := s.fault("step:" + r.ID); err != nil {
		return err
	}
	return s.Store.SaveStep(ctx, id, r)
}

func (s *faultStore) SaveItem(ctx context.Context, id, step string, r *ItemResult) error {
	if err := s.fault(fmt.Sprintf("item:%s#%d", step, r.Index)); err != nil {
		return err
	}
	return s.Store.SaveItem(ctx, id, step, r)
}

func (s *faultStore) SaveMeta(ctx context.Context, meta *RunMeta) error {
	if err := s.fault("meta:" + string(meta.Status)); err != nil {
		return err
	}
	return s.Store.SaveMeta(ctx, meta)
}

func (s *faultStore) AppendEvents(ctx context.Context, id string, evs ...Event) error {
	for _, e := range evs {
		if err := s.fault("event:" + string(e.Type)); err != nil {
			return err
		}
	}
	return s.Store.AppendEvents(ctx, id, evs...)
}

// A record that cannot be written is not the step's failure: the run stops
// interrupted, saying the disk is full (or what else is wrong with it) and
// that resume continues; resume, once the disk takes writes again, runs
// only what has no record, and what the lost go spent stays counted.
func TestUnwritableRecordInterruptsThenResume(t *testing.T) {
	t.Parallel()
	const flow = `
name: faults
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A
  ask:
    kind: llm
    model: fast
    needs: [a]
    prompt: say ${{ steps.a.output }}
  each:
    kind: llm
    model: fast
    needs: [ask]
    foreach: ${{ [1, 2] }}
    prompt: item ${{ item }}
  z:
    kind: checkpoint
    needs: [each]
    run: echo x >> COUNTER/z; echo Z
output: ${{ steps.z.output }}
`
	for _, tc := range []struct {
		name  string
		fail  string
		err   error
		says  string              // the fact the error states
		fix   runstore.RemedyKind // and the way out it offers
		calls int                 // model calls by both goes: what ran twice
		ask   int                 // attempts ask's record counts
		item1 int                 // attempts item 1's record counts
	}{
		{"step record, disk full", "step:ask", syscall.ENOSPC, "the disk is full", runstore.RemedyFreeSpace, 4, 2, 1},
		{"step record, quota", "step:ask", syscall.EDQUOT, "the disk is full (the quota is used up)", runstore.RemedyFreeSpace, 4, 2, 1},
		{"step record, read-only", "step:ask", syscall.EROFS, "read-only file system", runstore.RemedyFixStore, 4, 2, 1},
		{"item record, disk full", "item:each#1", syscall.ENOSPC, "the disk is full", runstore.RemedyFreeSpace, 4, 1, 2},
		{"item record, I/O error", "item:each#1", syscall.EIO, "input/output error", runstore.RemedyFixStore, 4, 1, 2},
		{"run.json at the end", "meta:completed", syscall.ENOSPC, "the disk is full", runstore.RemedyFreeSpace, 3, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			fs := &faultStore{Store: te.store, err: tc.err, fail: map[string]int{tc.fail: 1}, hit: map[string]int{}}
			eng := New(Config{Store: fs, Models: te.models})
			f := te.flow(flow)
			in, _ := f.BindInputs(nil)
			_, err := eng.Start(context.Background(), StartOptions{Flow: f, Inputs: in, Parallel: 1})
			metas, lerr := listRuns(te.store)
			if lerr != nil || len(metas) != 1 {
				t.Fatalf("runs: %v %v", metas, lerr)
			}
			id := metas[0].ID
			if fs.hit[tc.fail] != 1 {
				t.Fatalf("the fault %s was never hit", tc.fail)
			}
			if fix := runstore.RemedyOf(err); err == nil || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) ||
				fix == nil || *fix != (runstore.Remedy{Do: tc.fix, Run: id}) {
				t.Fatalf("the run ended with %v (way out %+v); want %v, saying %q, offering %s of %s", err, fix, tc.err, tc.says, tc.fix, id)
			}
			got, gerr := eng.Get(context.Background(), id)
			if gerr != nil {
				t.Fatal(gerr)
			}
			wantStatus(t, got, RunInterrupted)
			if tc.fail != "meta:completed" && (got.Error == nil || !strings.Contains(*got.Error, tc.says)) {
				t.Errorf("the stored run's error is %v; want it to say %q", got.Error, tc.says)
			}
			if tc.fail != "meta:completed" && (got.Remedy == nil || got.Remedy.Do != tc.fix) {
				t.Errorf("the stored run offers %+v as its way out; want %s", got.Remedy, tc.fix)
			}
			for _, s := range got.Steps {
				if s.Status == StepFailed {
					t.Errorf("step %s is failed (%v): a record that cannot be written is not the step's failure", s.ID, s.Error)
				}
			}

			run, err := eng.Resume(context.Background(), id, 1)
			if err != nil {
				t.Fatalf("resume once the disk takes writes: %v", err)
			}
			wantStatus(t, run, RunCompleted)
			if run.Output != "Z" {
				t.Errorf("output %v", run.Output)
			}
			for _, c := range []string{"a", "z"} {
				if n := te.count(c); n != 1 {
					t.Errorf("step %s ran %d times; a step with a record must not run again", c, n)
				}
			}
			if te.models.calls != tc.calls {
				t.Errorf("the model was called %d times, want %d", te.models.calls, tc.calls)
			}
			wantUnit(t, "ask", step(t, run, "ask").Attempts, step(t, run, "ask").Usage, step(t, run, "ask").CostUSD, tc.ask)
			each := step(t, run, "each")
			it := each.Items[1]
			wantUnit(t, "item 1", it.Attempts, it.Usage, it.CostUSD, tc.item1)
			wantUnit(t, "item 0", each.Items[0].Attempts, each.Items[0].Usage, each.Items[0].CostUSD, 1)
			// Everything the model was paid for is in the run's totals.
			if run.Usage != (providers.Usage{InputTokens: 10 * tc.calls, OutputTokens: 5 * tc.calls}) || math.Abs(run.CostUSD-0.5*float64(tc.calls)) > 1e-9 {
				t.Errorf("run totals %+v $%v, want %d calls' worth", run.Usage, run.CostUSD, tc.calls)
			}
			meta, err := te.store.LoadMeta(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(meta.Earlier) != 0 {
				t.Errorf("run.json still keeps spend %v that the records now hold", meta.Earlier)
			}
		})
	}
}

// wantUnit checks a step's or item's record counts n attempts of fakeModels
// (10 in, 5 out, $0.5 each).
func wantUnit(t *testing.T, what string, attempts int, u providers.Usage, cost *float64, n int) {
	t.Helper()
	if attempts != n || u != (providers.Usage{InputTokens: 10 * n, OutputTokens: 5 * n}) || cost == nil || math.Abs(*cost-0.5*float64(n)) > 1e-9 {
		t.Errorf("%s: %d attempts, usage %+v, cost %v; want %d calls' worth", what, attempts, u, cost, n)
	}
}
