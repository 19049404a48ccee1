package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// A run whose lease expires (a shared store's holder stalled, and another
// took it over) stops interrupted at once instead of running its steps a
// second time beside the new holder; what it recorded stays.
func TestLostLeaseStopsTheRun(t *testing.T) {
	defer func(d time.Duration) { defaultLeaseTTL = d }(defaultLeaseTTL)
	defaultLeaseTTL = 300 * time.Millisecond
	st := memstore.New()
	var skew atomic.Int64
	st.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	te := newEnvOver(t, st, "")
	f := te.flow(`
name: long
steps:
  a: {kind: checkpoint, value: 1}
  b: {kind: checkpoint, run: 'echo start >> COUNTER/b; sleep 5; echo b'}
`)
	go func() {
		// Once b runs, the store's clock jumps past the lease.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if te.count("b") > 0 {
				skew.Store(int64(time.Hour))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	in, _ := f.BindInputs(nil)
	_, err := te.eng.Start(bg, StartOptions{Flow: f, Inputs: in})
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the run went on for %s after its lease was lost", took)
	}
	if !errors.Is(err, runstore.ErrLeaseLost) || !strings.Contains(err.Error(), "another process may be running it") {
		t.Fatalf("Start = %v; want it to say the lease was lost", err)
	}
	page, _ := st.Query(bg, runstore.Query{})
	id := page.Runs[0].ID
	if r, _ := st.LoadStep(bg, id, "a"); r == nil || r.Status != runstore.StepCompleted {
		t.Fatalf("step a's record %v did not stay", r)
	}
	if r, _ := st.LoadStep(bg, id, "b"); r != nil {
		t.Fatalf("the stopped step b was recorded: %+v", r)
	}
	if m, _ := st.LoadSummary(bg, id); m.Status != RunRunning {
		t.Fatalf("the run's meta was written after its lease was lost: %s", m.Status)
	}
}

// A run whose lock file is removed while it runs (rm lock: the next
// command makes a new lock and can take the run) stops interrupted at
// once, saying so, instead of running beside whoever takes it next.
func TestRemovedLockStopsTheRun(t *testing.T) {
	defer func(d time.Duration) { leaseCheck = d }(leaseCheck)
	leaseCheck = 20 * time.Millisecond
	te := newFileEnv(t)
	f := te.flow(`
name: long
steps:
  a: {kind: checkpoint, value: 1}
  b: {kind: checkpoint, run: 'echo start >> COUNTER/b; if [ ! -f COUNTER/again ]; then sleep 30; fi; echo b'}
`)
	in, _ := f.BindInputs(nil)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := te.eng.Start(bg, StartOptions{Flow: f, Inputs: in})
		done <- err
	}()
	waitFor(t, func() bool { return te.count("b") > 0 })
	page, _ := te.store.Query(bg, runstore.Query{})
	id := page.Runs[0].ID
	lock := te.files.Locate(id, "", "lock")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after its lock was removed")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the run went on for %s after its lock was removed", took)
	}
	if !errors.Is(err, runstore.ErrLeaseLost) || !strings.Contains(err.Error(), lock) {
		t.Fatalf("Start = %v; want it to say its lock %s was removed", err, lock)
	}
	// Whoever takes the run next finishes it.
	if err := os.WriteFile(filepath.Join(te.counter, "again"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run, err := New(Config{Store: filestore.New(te.home)}).Resume(bg, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
}
