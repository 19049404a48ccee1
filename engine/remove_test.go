package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// chain is a run, a replay of it (reusing a and c) and a replay of the
// replay (reusing them still from the first, and b from the second).
func chain(t *testing.T, te *testEnv) (first, second, third string) {
	t.Helper()
	f := te.flow(replayFlow)
	run := te.start(f, nil)
	r2, err := te.eng.Replay(bg, ReplayOptions{Source: run.ID, From: "b"})
	if err != nil || r2.Status != RunCompleted {
		t.Fatalf("replay: %v, %v", r2, err)
	}
	r3, err := te.eng.Replay(bg, ReplayOptions{Source: r2.ID, From: "d"})
	if err != nil || r3.Status != RunCompleted {
		t.Fatalf("replay of the replay: %v, %v", r3, err)
	}
	return run.ID, r2.ID, r3.ID
}

func ids(rs []RemovedRun) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func exists(t *testing.T, te *testEnv, id string) bool {
	t.Helper()
	ok, err := te.store.Exists(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDeleteKeepsWhatReplaysReuse(t *testing.T) {
	onBothStores(t, func(t *testing.T, te *testEnv) {
		first, second, third := chain(t, te)

		_, err := te.eng.Delete(bg, []string{first})
		var re *RefusedError
		if !errors.As(err, &re) || len(re.Kept) != 1 || re.Kept[0].Why != KeepReused ||
			!reflect.DeepEqual(re.Kept[0].By, sorted(second, third)) {
			t.Fatalf("Delete of a reused run = %v, want a refusal naming %s and %s", err, second, third)
		}
		if !strings.Contains(err.Error(), "nothing was deleted") || !exists(t, te, first) {
			t.Fatalf("a refused Delete removed something: %v", err)
		}
		// second is reused by third: with first, still refused, and
		// nothing goes (not even first's part of the request).
		if _, err := te.eng.Delete(bg, []string{first, second}); !errors.As(err, &re) || re.Kept[0].ID != first || !exists(t, te, first) {
			t.Fatalf("Delete of two of three = %v", err)
		}

		// The one nothing reuses goes alone, and its sources stay whole.
		got, err := te.eng.Delete(bg, []string{third})
		if err != nil || !reflect.DeepEqual(ids(got.Removed), []string{third}) {
			t.Fatalf("Delete of the last replay = %+v, %v", got, err)
		}
		run, err := te.eng.Get(bg, second)
		if err != nil || step(t, run, "a").Status != StepCompleted || step(t, run, "a").Output != "A-x" {
			t.Fatalf("the replay after its own replay went: %+v, %v", run, err)
		}

		// Together, reusing runs first.
		got, err = te.eng.Delete(bg, []string{first, second})
		if err != nil || !reflect.DeepEqual(ids(got.Removed), []string{second, first}) {
			t.Fatalf("Delete of a run and its replay = %+v, %v; want the replay removed first", got, err)
		}
		if exists(t, te, first) || exists(t, te, second) {
			t.Fatalf("runs still there after Delete")
		}
		if _, err := te.eng.Delete(bg, []string{first}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete of a deleted run = %v, want ErrNotFound", err)
		}
	})
}

// onBothStores runs fn on an engine over each store.
func onBothStores(t *testing.T, fn func(*testing.T, *testEnv)) {
	t.Parallel()
	for name, mk := range map[string]func(*testing.T) *testEnv{"memory": newEnv, "files": newFileEnv} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, mk(t))
		})
	}
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestDeleteRefusesRunningAndWaitingRuns(t *testing.T) {
	onBothStores(t, func(t *testing.T, te *testEnv) {
		running := mkRun(t, te.store, "kr-running0", time.Now())
		other := runstore.Holder{Host: "elsewhere", PID: 4242}
		l, err := te.store.Acquire(bg, running.ID, other, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer te.store.Release(bg, l)
		waiting := mkRun(t, te.store, "kr-waiting0", time.Now())
		waiting.Status = RunWaiting
		if err := te.store.SaveMeta(bg, waiting); err != nil {
			t.Fatal(err)
		}
		plain := mkRun(t, te.store, "kr-plain000", time.Now())

		_, err = te.eng.Delete(bg, []string{plain.ID, running.ID, waiting.ID})
		var re *RefusedError
		if !errors.As(err, &re) || len(re.Kept) != 2 ||
			re.Kept[0].ID != running.ID || re.Kept[0].Why != KeepRunning || re.Kept[0].Holder == nil ||
			re.Kept[1].ID != waiting.ID || re.Kept[1].Why != KeepWaiting {
			t.Fatalf("Delete = %v (%+v), want running and waiting refused", err, re)
		}
		for _, id := range []string{plain.ID, running.ID, waiting.ID} {
			if !exists(t, te, id) {
				t.Fatalf("run %s went in a refused Delete", id)
			}
		}
		// The refused Delete let its leases go: the plain run can go.
		if _, err := te.eng.Delete(bg, []string{plain.ID}); err != nil {
			t.Fatalf("Delete after a refusal: %v", err)
		}
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	day := 24 * time.Hour
	te := newFileEnv(t)
	old := mkRun(t, te.store, "kr-old00000", now.Add(-40*day))
	recent := mkRun(t, te.store, "kr-recent00", now.Add(-2*day))
	oldFailed := mkRun(t, te.store, "kr-oldfail0", now.Add(-50*day))
	oldFailed.Status = RunFailed
	if err := te.store.SaveMeta(bg, oldFailed); err != nil {
		t.Fatal(err)
	}
	oldWaiting := mkRun(t, te.store, "kr-oldwait0", now.Add(-45*day))
	oldWaiting.Status = RunWaiting
	if err := te.store.SaveMeta(bg, oldWaiting); err != nil {
		t.Fatal(err)
	}
	oldRunning := mkRun(t, te.store, "kr-oldrun00", now.Add(-45*day))
	oldRunning.Status = RunRunning
	if err := te.store.SaveMeta(bg, oldRunning); err != nil {
		t.Fatal(err)
	}
	l, err := te.store.Acquire(bg, oldRunning.ID, runstore.Holder{Host: "elsewhere"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer te.store.Release(bg, l)
	// An old source whose recent replay is kept.
	src := mkRun(t, te.store, "kr-oldsrc00", now.Add(-60*day))
	replay := &RunMeta{Run: Run{ID: "kr-replay00", Flow: "f", Status: RunCompleted, StartedAt: now.Add(-day), ReplayOf: &src.ID},
		Plan: []PlanStep{{ID: "a", Kind: "checkpoint"}}, Reused: []ReusedGroup{{Run: src.ID, Status: StepCompleted, Steps: []string{"a"}}}}
	rl, err := te.store.Create(bg, replay, []byte("name: f\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = te.store.Release(bg, rl)

	cutoff := now.Add(-30 * day)
	tests := []struct {
		name    string
		opts    PruneOptions
		removed []string
		kept    map[string]KeepReason
	}{
		{"dry run", PruneOptions{Before: cutoff, DryRun: true},
			[]string{oldFailed.ID, old.ID},
			map[string]KeepReason{oldWaiting.ID: KeepWaiting, oldRunning.ID: KeepRunning, src.ID: KeepReused}},
		{"failed only", PruneOptions{Before: cutoff, Status: RunFailed}, []string{oldFailed.ID}, map[string]KeepReason{}},
		{"waiting when asked", PruneOptions{Before: cutoff, Status: RunWaiting}, []string{oldWaiting.ID}, map[string]KeepReason{}},
		{"running never", PruneOptions{Before: now.Add(time.Hour), Status: RunRunning}, []string{}, map[string]KeepReason{oldRunning.ID: KeepRunning}},
		{"the rest", PruneOptions{Before: cutoff}, []string{old.ID},
			map[string]KeepReason{oldRunning.ID: KeepRunning, src.ID: KeepReused}},
		{"a source goes with its replay", PruneOptions{Before: now.Add(-12 * time.Hour)},
			[]string{recent.ID, replay.ID, src.ID}, map[string]KeepReason{oldRunning.ID: KeepRunning}},
	}
	for _, tc := range tests {
		got, err := te.eng.Prune(context.Background(), tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(sorted(ids(got.Removed)...), sorted(tc.removed...)) {
			t.Errorf("%s: removed %v, want %v", tc.name, ids(got.Removed), tc.removed)
		}
		kept := map[string]KeepReason{}
		for _, k := range got.Kept {
			kept[k.ID] = k.Why
		}
		if !reflect.DeepEqual(kept, tc.kept) {
			t.Errorf("%s: kept %v, want %v", tc.name, kept, tc.kept)
		}
		for _, id := range tc.removed {
			if exists(t, te, id) == !tc.opts.DryRun {
				t.Errorf("%s: run %s exists: %v", tc.name, id, tc.opts.DryRun)
			}
		}
		if tc.name == "a source goes with its replay" {
			order := ids(got.Removed)
			if strings.Join(order, " ") == "" || indexOf(order, replay.ID) > indexOf(order, src.ID) {
				t.Errorf("the source was removed before its replay: %v", order)
			}
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// A replay whose source was removed by hand (not by Delete, which keeps
// it) says its reused steps are lost and how to get them back, and a
// replay of it runs them again.
func TestReusedFromARunRemovedByHand(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	first, second, _ := chain(t, te)
	if err := os.RemoveAll(te.files.RunDir(first)); err != nil {
		t.Fatal(err)
	}
	run, err := te.eng.Get(bg, second)
	if err != nil {
		t.Fatal(err)
	}
	a := step(t, run, "a")
	if a.Status != StepFailed || a.Error == nil || !strings.Contains(*a.Error, "reused from run "+first+", which is gone") ||
		a.Remedy == nil || a.Remedy.Do != runstore.RemedyReplay || a.Remedy.Run != second {
		t.Fatalf("step a reused from a removed run: %s, %v, remedy %+v", a.Status, a.Error, a.Remedy)
	}
	before := te.count("a")
	again, err := te.eng.Replay(bg, ReplayOptions{Source: second})
	if err != nil || again.Status != RunCompleted || te.count("a") != before+1 {
		t.Fatalf("a replay of it: %v, %v (a ran %d times)", again, err, te.count("a")-before)
	}
}

// A run too damaged to read can be deleted: it is what to do with one.
func TestDeleteOfADamagedRun(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	m := mkRun(t, te.store, "kr-damaged0", time.Now())
	if err := os.WriteFile(filepath.Join(te.files.RunDir(m.ID), "run.json"), []byte("{cut"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := te.eng.Delete(bg, []string{m.ID})
	if err != nil || len(got.Removed) != 1 || !got.Removed[0].Damaged {
		t.Fatalf("Delete of a damaged run = %+v, %v", got, err)
	}
	if exists(t, te, m.ID) {
		t.Fatal("the damaged run is still there")
	}
}

// A completed or cancelled run held by a process still releasing it (the
// one that ended it) is refused a retry for what it is, not as held.
func TestRetryOfAnEndedRunHeldElsewhere(t *testing.T) {
	onBothStores(t, func(t *testing.T, te *testEnv) {
		for st, want := range map[RunStatus]string{RunCompleted: "completed; there is nothing to retry", RunCancelled: "was cancelled"} {
			r := mkRun(t, te.store, "kr-"+string(st)[:4]+"0000", time.Now())
			r.Status = st
			if err := te.store.SaveMeta(bg, r); err != nil {
				t.Fatal(err)
			}
			l, err := te.store.Acquire(bg, r.ID, runstore.Holder{Host: "elsewhere", PID: 4242}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			_, err = te.eng.Retry(bg, r.ID, 0)
			var he *HeldError
			if errors.As(err, &he) || err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("retry of a %s run held elsewhere: %v", st, err)
			}
			_ = te.store.Release(bg, l)
		}
	})
}

// A run recorded running that nobody runs is pruned as what it is:
// interrupted, as list shows it, not running.
func TestPruneNamesAnInterruptedRunSo(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	m := mkRun(t, te.store, "kr-stopped0", time.Now().UTC().Add(-48*time.Hour))
	m.Status = RunRunning
	if err := te.store.SaveMeta(bg, m); err != nil {
		t.Fatal(err)
	}
	got, err := te.eng.Prune(bg, PruneOptions{Before: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Removed) != 1 || got.Removed[0].ID != m.ID || got.Removed[0].Status != RunInterrupted {
		t.Errorf("prune of an interrupted run removed %+v, want it removed as interrupted", got.Removed)
	}
}
