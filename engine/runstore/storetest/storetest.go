// Package storetest is the conformance suite every runstore.Store backend
// passes: records round-trip, writes are atomic to concurrent readers, a
// new run is never seen without its lease, leases exclude, queries page
// with cursors, and events and logs tail by sequence number. A backend's
// own tests call Run with a function that makes an empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// NewStore makes an empty store for one test.
type NewStore func(t *testing.T) runstore.Store

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, runstore.Store)
	}{
		{"RunRecordsRoundTrip", testRunRecords},
		{"StepRecordsRoundTrip", testStepRecords},
		{"Artifacts", testArtifacts},
		{"MissingRuns", testMissing},
		{"SavesAreAtomicToReaders", testAtomicSaves},
		{"NewRunIsLeasedWhenSeen", testCreateLeased},
		{"LeasesExclude", testLeases},
		{"CancelRequests", testCancel},
		{"QueryFiltersAndPages", testQuery},
		{"EventsTail", testEvents},
		{"LogsTail", testLogs},
		{"Resolve", testResolve},
		{"WritesToAMissingRun", testWritesToMissing},
		{"CreateTwice", testCreateTwice},
		{"ConcurrentAppendsNumberOnce", testConcurrentAppends},
		{"PagesWhileRunsStart", testPagesWhileRunsStart},
		{"ArtifactNames", testArtifactNames},
		{"Turns", testTurns},
		{"Delete", testDelete},
		{"CacheRoundTrip", testCacheRoundTrip},
		{"CacheMisses", testCacheMisses},
		{"CacheConcurrentPuts", testCacheConcurrentPuts},
		{"CacheList", testCacheList},
		{"ReplaceFlow", testReplaceFlow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

var me = runstore.Holder{Host: "test", PID: os.Getpid()}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// newMeta is the meta of a fresh run of flow started at `at`.
func newMeta(t *testing.T, s runstore.Store, flow string, at time.Time) *runstore.RunMeta {
	t.Helper()
	id, err := s.NewID(context.Background())
	if err != nil {
		t.Fatalf("NewID: %v", err)
	}
	if !strings.HasPrefix(id, "kr-") {
		t.Fatalf("NewID = %q, want a kr- id", id)
	}
	return &runstore.RunMeta{
		Run: runstore.Run{ID: id, Flow: flow, Status: runstore.RunRunning, StartedAt: at,
			Inputs: map[string]any{"topic": "otters"}},
		Parallel: 4,
		Plan:     []runstore.PlanStep{{ID: "a", Kind: flowspec.KindCheckpoint}, {ID: "b", Kind: flowspec.KindLLM, Foreach: true}},
	}
}

// create records a run and releases its lease.
func create(t *testing.T, s runstore.Store, m *runstore.RunMeta) {
	t.Helper()
	ctx := context.Background()
	l, err := s.Create(ctx, m, []byte("name: "+m.Flow+"\n"), me, time.Minute)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func testRunRecords(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	src := "name: digest\r\nsteps: {}\n\x00binary\xff"
	m.Reused = []runstore.ReusedGroup{{Run: "kr-source", Status: runstore.StepCompleted, Steps: []string{"a"}}}
	l, err := s.Create(ctx, m, []byte(src), me, time.Minute)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer s.Release(ctx, l)

	got, err := s.LoadMeta(ctx, m.ID)
	if err != nil {
		t.Fatalf("LoadMeta: %v", err)
	}
	if got.ID != m.ID || got.Flow != "digest" || got.Status != runstore.RunRunning || !got.StartedAt.Equal(t0) ||
		got.Parallel != 4 || got.Inputs["topic"] != "otters" {
		t.Fatalf("LoadMeta = %+v, want what was created", got.Run)
	}
	if !reflect.DeepEqual(got.Plan, m.Plan) || !reflect.DeepEqual(got.Reused, m.Reused) {
		t.Fatalf("plan %v reused %v, want %v %v", got.Plan, got.Reused, m.Plan, m.Reused)
	}
	sum, err := s.LoadSummary(ctx, m.ID)
	if err != nil || sum.ID != m.ID || sum.Flow != "digest" {
		t.Fatalf("LoadSummary = %+v, %v", sum, err)
	}
	flow, err := s.FlowSource(ctx, m.ID)
	if err != nil || string(flow) != src {
		t.Fatalf("FlowSource = %q, %v; want the bytes given", flow, err)
	}

	end := t0.Add(time.Minute)
	msg := "step b failed"
	m.Status, m.EndedAt, m.Error = runstore.RunFailed, &end, &msg
	m.Index = map[string]runstore.IndexEntry{"a": {Status: runstore.StepCompleted, Fingerprint: "f1"}}
	m.Earlier = map[string]runstore.Spend{"b#1": {Attempts: 2, Usage: providers.Usage{InputTokens: 5}}}
	if err := s.SaveMeta(ctx, m); err != nil {
		t.Fatalf("SaveMeta: %v", err)
	}
	got, err = s.LoadMeta(ctx, m.ID)
	if err != nil {
		t.Fatalf("LoadMeta after SaveMeta: %v", err)
	}
	if got.Status != runstore.RunFailed || got.Error == nil || *got.Error != msg || got.EndedAt == nil || !got.EndedAt.Equal(end) {
		t.Fatalf("after SaveMeta: %+v", got.Run)
	}
	if got.Index["a"].Fingerprint != "f1" || got.Earlier["b#1"].Attempts != 2 || got.Earlier["b#1"].Usage.InputTokens != 5 {
		t.Fatalf("index %v earlier %v not kept", got.Index, got.Earlier)
	}
	if !reflect.DeepEqual(got.Plan, m.Plan) {
		t.Fatalf("SaveMeta lost the plan: %v", got.Plan)
	}
	// A record is the store's copy: changing what was saved changes nothing.
	m.Flow = "changed"
	if again, _ := s.LoadSummary(ctx, m.ID); again.Flow != "digest" {
		t.Fatalf("the stored meta changed with the caller's: %q", again.Flow)
	}
}

func testStepRecords(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	if r, err := s.LoadStep(ctx, m.ID, "a"); r != nil || err != nil {
		t.Fatalf("LoadStep before any record = %v, %v; want nil, nil", r, err)
	}
	cost := 0.25
	msg := "exit status 3"
	a := &runstore.StepResult{ID: "a", Kind: flowspec.KindCheckpoint, Status: runstore.StepFailed, Attempts: 2,
		Output: map[string]any{"n": 1.0, "s": "x\ny"}, Error: &msg, DurationMS: 12, CostUSD: &cost,
		Usage: providers.Usage{InputTokens: 3, OutputTokens: 4}, Fingerprint: "fa",
		Why: &runstore.Reason{Code: runstore.ReasonNotDownstream, Run: "kr-x", From: "b",
			Though: &runstore.Reason{Code: runstore.ReasonModelChanged, Model: &runstore.ModelChange{Was: "m/a", Now: "m/b"}}},
		Items: []runstore.ItemResult{{Index: 0}}}
	if err := s.SaveStep(ctx, m.ID, a); err != nil {
		t.Fatalf("SaveStep: %v", err)
	}
	got, err := s.LoadStep(ctx, m.ID, "a")
	if err != nil || got == nil {
		t.Fatalf("LoadStep = %v, %v", got, err)
	}
	want := *a
	want.Items = nil // items are their own records
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("LoadStep =\n%+v\nwant\n%+v", *got, want)
	}
	a.Status, a.Error = runstore.StepCompleted, nil
	if err := s.SaveStep(ctx, m.ID, a); err != nil {
		t.Fatalf("SaveStep again: %v", err)
	}
	b := &runstore.StepResult{ID: "b", Kind: flowspec.KindLLM, Status: runstore.StepCompleted, Output: "ok"}
	if err := s.SaveStep(ctx, m.ID, b); err != nil {
		t.Fatalf("SaveStep b: %v", err)
	}
	all, err := s.LoadSteps(ctx, m.ID)
	if err != nil || len(all) != 2 || all["a"].Status != runstore.StepCompleted || all["a"].Error != nil || all["b"].Output != "ok" {
		t.Fatalf("LoadSteps = %v, %v", all, err)
	}

	for i := range 3 {
		if err := s.SaveItem(ctx, m.ID, "b", &runstore.ItemResult{Index: i, Status: runstore.StepCompleted, Output: fmt.Sprint("item ", i)}); err != nil {
			t.Fatalf("SaveItem %d: %v", i, err)
		}
	}
	if err := s.SaveItem(ctx, m.ID, "b", &runstore.ItemResult{Index: 1, Status: runstore.StepFailed, Output: nil}); err != nil {
		t.Fatalf("SaveItem again: %v", err)
	}
	items, err := s.LoadItems(ctx, m.ID, "b")
	if err != nil || len(items) != 3 || items[0].Output != "item 0" || items[1].Status != runstore.StepFailed || items[2].Index != 2 {
		t.Fatalf("LoadItems = %v, %v", items, err)
	}
	if none, err := s.LoadItems(ctx, m.ID, "a"); err != nil || len(none) != 0 {
		t.Fatalf("LoadItems of a step without items = %v, %v", none, err)
	}

	if err := s.ForgetStep(ctx, m.ID, "b"); err != nil {
		t.Fatalf("ForgetStep: %v", err)
	}
	if r, err := s.LoadStep(ctx, m.ID, "b"); r != nil || err != nil {
		t.Fatalf("LoadStep after ForgetStep = %v, %v", r, err)
	}
	if items, _ := s.LoadItems(ctx, m.ID, "b"); len(items) != 3 {
		t.Fatalf("ForgetStep removed items too: %v", items)
	}
	if err := s.ForgetStep(ctx, m.ID, "b"); err != nil {
		t.Fatalf("ForgetStep of a step without a record: %v", err)
	}
}

func testArtifacts(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	if _, err := s.ReadArtifact(ctx, m.ID, "b", "prompt.json"); !errors.Is(err, runstore.ErrNoArtifact) {
		t.Fatalf("ReadArtifact of none: %v, want ErrNoArtifact", err)
	}
	blob := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n'}, 1000)
	for _, name := range []string{"response.txt", "prompt.json", "prompt-3.json"} {
		if err := s.WriteArtifact(ctx, m.ID, "b", name, append([]byte(name), blob...)); err != nil {
			t.Fatalf("WriteArtifact %s: %v", name, err)
		}
	}
	if err := s.WriteArtifact(ctx, m.ID, "b", "prompt.json", []byte("second")); err != nil {
		t.Fatalf("WriteArtifact again: %v", err)
	}
	if got, err := s.ReadArtifact(ctx, m.ID, "b", "prompt.json"); err != nil || string(got) != "second" {
		t.Fatalf("ReadArtifact = %q, %v", got, err)
	}
	if got, err := s.ReadArtifact(ctx, m.ID, "b", "prompt-3.json"); err != nil || !bytes.Equal(got, append([]byte("prompt-3.json"), blob...)) {
		t.Fatalf("ReadArtifact of a binary blob differs (%d bytes, %v)", len(got), err)
	}
	// Artifacts are not records: a step record and items beside them are
	// not listed, and do not disturb them.
	_ = s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "b", Status: runstore.StepCompleted})
	_ = s.SaveItem(ctx, m.ID, "b", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted})
	names, err := s.Artifacts(ctx, m.ID, "b")
	if want := []string{"prompt-3.json", "prompt.json", "response.txt"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("Artifacts = %v, %v; want %v", names, err, want)
	}
	if err := s.DeleteArtifact(ctx, m.ID, "b", "prompt.json"); err != nil {
		t.Fatalf("DeleteArtifact: %v", err)
	}
	if err := s.DeleteArtifact(ctx, m.ID, "b", "prompt.json"); err != nil {
		t.Fatalf("DeleteArtifact of none: %v", err)
	}
	if _, err := s.ReadArtifact(ctx, m.ID, "b", "prompt.json"); !errors.Is(err, runstore.ErrNoArtifact) {
		t.Fatalf("ReadArtifact after delete: %v", err)
	}
	if names, _ := s.Artifacts(ctx, m.ID, "a"); len(names) != 0 {
		t.Fatalf("Artifacts of a step without any = %v", names)
	}
}

func testMissing(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	if ok, err := s.Exists(ctx, "kr-nothere0"); ok || err != nil {
		t.Fatalf("Exists of a missing run = %v, %v", ok, err)
	}
	m := newMeta(t, s, "x", t0)
	create(t, s, m)
	if ok, err := s.Exists(ctx, m.ID); !ok || err != nil {
		t.Fatalf("Exists of a run = %v, %v", ok, err)
	}
	if _, err := s.LoadMeta(ctx, "kr-nothere0"); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("LoadMeta of a missing run: %v, want ErrNotFound", err)
	}
	if _, err := s.LoadSummary(ctx, "kr-nothere0"); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("LoadSummary of a missing run: %v, want ErrNotFound", err)
	}
	if _, err := s.Acquire(ctx, "kr-nothere0", me, time.Minute); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("Acquire of a missing run: %v, want ErrNotFound", err)
	}
	if h, err := s.Holder(ctx, "kr-nothere0"); h != nil || err != nil {
		t.Fatalf("Holder of a missing run = %v, %v; want nobody", h, err)
	}
	page, err := s.Query(ctx, runstore.Query{IDPrefix: "kr-nothere"})
	if err != nil || len(page.Runs) != 0 || page.Next != "" {
		t.Fatalf("Query of no run = %+v, %v", page, err)
	}
}

// testAtomicSaves replaces records while others read them: every read
// sees one whole version, never a mix or a torn one.
func testAtomicSaves(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	big := func(v int) string { return strings.Repeat(fmt.Sprintf("%d", v%10), 256<<10) }
	if err := s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: big(0), Attempts: 0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := s.LoadStep(ctx, m.ID, "a")
				if err != nil || r == nil {
					errs <- fmt.Errorf("LoadStep while it is replaced = %v, %v", r, err)
					return
				}
				if out, _ := r.Output.(string); out != big(r.Attempts) {
					errs <- fmt.Errorf("read a record whose output is not that of its version %d", r.Attempts)
					return
				}
				if sum, err := s.LoadSummary(ctx, m.ID); err != nil || sum.ID != m.ID {
					errs <- fmt.Errorf("LoadSummary while the meta is replaced = %v, %v", sum, err)
					return
				}
			}
		}()
	}
	for v := 1; v <= 20; v++ {
		if err := s.SaveStep(ctx, m.ID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: big(v), Attempts: v}); err != nil {
			t.Fatal(err)
		}
		m.Parallel = v
		if err := s.SaveMeta(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testCreateLeased: a run someone else can see is already leased to its
// creator, so nobody sees it running without a holder (which reads as
// interrupted) or takes it over as it starts.
func testCreateLeased(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			page, _ := s.Query(ctx, runstore.Query{})
			for _, m := range page.Runs {
				if h, err := s.Holder(ctx, m.ID); err != nil || h == nil {
					errs <- fmt.Errorf("run %s was seen without its lease (%v)", m.ID, err)
					return
				}
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	var leases []*runstore.Lease
	for i := range 10 {
		m := newMeta(t, s, "digest", t0.Add(time.Duration(i)*time.Second))
		l, err := s.Create(ctx, m, []byte("name: digest\n"), me, time.Minute)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		leases = append(leases, l)
		if _, err := s.Acquire(ctx, m.ID, runstore.Holder{Host: "other", PID: os.Getpid()}, time.Minute); !isHeld(err) {
			t.Fatalf("Acquire of a run just created = %v, want a *HeldError", err)
		}
	}
	close(done)
	for err := range errs {
		t.Error(err)
	}
	for _, l := range leases {
		_ = s.Release(ctx, l)
	}
}

func isHeld(err error) bool {
	var he *runstore.HeldError
	return errors.As(err, &he)
}

func testLeases(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	l, err := s.Create(ctx, m, []byte("name: digest\n"), me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.Holder(ctx, m.ID); err != nil || h == nil || *h != me {
		t.Fatalf("Holder of a created run = %v, %v; want %v", h, err, me)
	}
	other := runstore.Holder{Host: "other", PID: os.Getpid()}
	_, err = s.Acquire(ctx, m.ID, other, time.Minute)
	var he *runstore.HeldError
	if !errors.As(err, &he) || he.RunID != m.ID || he.Holder != me {
		t.Fatalf("Acquire while held = %v, want a *HeldError naming %v", err, me)
	}
	if err := s.Renew(ctx, l); err != nil {
		t.Fatalf("Renew of a live lease: %v", err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatalf("Release twice: %v", err)
	}
	if h, err := s.Holder(ctx, m.ID); h != nil || err != nil {
		t.Fatalf("Holder after Release = %v, %v; want nobody", h, err)
	}
	if err := s.Renew(ctx, l); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Renew after Release = %v, want ErrLeaseLost", err)
	}
	l2, err := s.Acquire(ctx, m.ID, other, time.Minute)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if h, _ := s.Holder(ctx, m.ID); h == nil || *h != other {
		t.Fatalf("Holder = %v, want %v", h, other)
	}
	// Releasing a lease that is no longer the run's frees nothing.
	_ = s.Release(ctx, l)
	if _, err := s.Acquire(ctx, m.ID, me, time.Minute); !isHeld(err) {
		t.Fatalf("an old lease's Release freed the new one: %v", err)
	}
	_ = s.Release(ctx, l2)

	// Of many trying at once, one gets it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*runstore.Lease
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l, err := s.Acquire(ctx, m.ID, me, time.Minute); err == nil {
				mu.Lock()
				got = append(got, l)
				mu.Unlock()
			} else if !isHeld(err) {
				t.Errorf("Acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(got) != 1 {
		t.Fatalf("%d of 8 concurrent Acquires got the lease, want 1", len(got))
	}
	_ = s.Release(ctx, got[0])
}

// A cancel request is for the lease that holds the run when it is made
// (however soon after the lease was taken), not for a later one: a run
// cancelled as it ends does not cancel the next resume.
func testCancel(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	l1, err := s.Create(ctx, m, []byte("name: digest\n"), me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	asked := func(l *runstore.Lease, want bool, when string) {
		t.Helper()
		if got, err := s.CancelRequested(ctx, l); got != want || err != nil {
			t.Fatalf("CancelRequested %s = %v, %v; want %v", when, got, err, want)
		}
	}
	asked(l1, false, "of a fresh run")
	if err := s.RequestCancel(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	asked(l1, true, "after RequestCancel")
	if err := s.Release(ctx, l1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelRequested(ctx, l1); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("CancelRequested of a released lease = %v, want ErrLeaseLost", err)
	}
	l2, err := s.Acquire(ctx, m.ID, me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	asked(l2, false, "of a lease taken after the request")
	if err := s.RequestCancel(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	asked(l2, true, "after a request made while it is held")
	if err := s.ClearCancel(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearCancel(ctx, m.ID); err != nil {
		t.Fatalf("ClearCancel twice: %v", err)
	}
	asked(l2, false, "after ClearCancel")
	if err := s.RequestCancel(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	asked(l2, true, "after a request made after ClearCancel")
	if err := s.Release(ctx, l2); err != nil {
		t.Fatal(err)
	}
}

func testQuery(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	var want []string // newest first
	var metas []*runstore.RunMeta
	for i := range 11 {
		// Pairs start in the same microsecond (ids break the tie); the
		// others a microsecond apart: a backend keeps times to the µs.
		at := t0.Add(time.Duration(i/2) * time.Microsecond)
		flow := "a"
		if i%3 == 0 {
			flow = "b"
		}
		m := newMeta(t, s, flow, at)
		if i%4 == 0 {
			m.Status = runstore.RunCompleted
		}
		create(t, s, m)
		metas = append(metas, m)
	}
	sorted := append([]*runstore.RunMeta(nil), metas...)
	sort.Slice(sorted, func(i, j int) bool { // newest first, then the greater id
		a, b := sorted[i], sorted[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		return a.ID > b.ID
	})
	for _, m := range sorted {
		want = append(want, m.ID)
	}
	for _, limit := range []int{0, 1, 3, 11, 20} {
		var got []string
		Pages(t, s, runstore.Query{Limit: limit}, func(page runstore.Page, err error) {
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if limit > 0 && len(page.Runs) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page.Runs))
			}
			for _, m := range page.Runs {
				got = append(got, m.ID)
			}
		})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("limit %d: paged\n%v\nwant newest first\n%v", limit, got, want)
		}
	}
	count := func(q runstore.Query, keep func(*runstore.RunMeta) bool) {
		t.Helper()
		page, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var exp []string
		for _, m := range sorted {
			if keep(m) {
				exp = append(exp, m.ID)
			}
		}
		var got []string
		for _, m := range page.Runs {
			got = append(got, m.ID)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("Query(%+v) = %v, want %v", q, got, exp)
		}
	}
	count(runstore.Query{Flow: "b"}, func(m *runstore.RunMeta) bool { return m.Flow == "b" })
	count(runstore.Query{Status: runstore.RunCompleted}, func(m *runstore.RunMeta) bool { return m.Status == runstore.RunCompleted })
	count(runstore.Query{Flow: "a", Status: runstore.RunRunning}, func(m *runstore.RunMeta) bool { return m.Flow == "a" && m.Status == runstore.RunRunning })
	prefix := sorted[4].ID[:len(sorted[4].ID)-1]
	count(runstore.Query{IDPrefix: prefix}, func(m *runstore.RunMeta) bool { return strings.HasPrefix(m.ID, prefix) })
	count(runstore.Query{Flow: "none"}, func(*runstore.RunMeta) bool { return false })
	// A filter pages like the whole.
	var got, exp []string
	for _, m := range sorted {
		if m.Flow == "a" {
			exp = append(exp, m.ID)
		}
	}
	for cursor := ""; ; {
		page, err := s.Query(ctx, runstore.Query{Flow: "a", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Runs {
			got = append(got, m.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("flow a, 2 a page: %v, want %v", got, exp)
	}
	if _, err := s.Query(ctx, runstore.Query{Cursor: "not a cursor"}); err == nil {
		t.Fatal("Query with a made-up cursor: no error")
	}
}

func testEvents(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	if evs, _, err := s.Events(ctx, m.ID, 0, 0); err != nil || len(evs) != 0 {
		t.Fatalf("Events of a fresh run = %v, %v", evs, err)
	}
	const total = 200
	var wg sync.WaitGroup
	wg.Add(1)
	followed := make(chan []runstore.Event, 1)
	go func() { // a follower tails as they are written
		defer wg.Done()
		var seen []runstore.Event
		after := int64(0)
		deadline := time.Now().Add(20 * time.Second)
		for len(seen) < total && time.Now().Before(deadline) {
			evs, _, err := s.Events(ctx, m.ID, after, 7)
			if err != nil {
				t.Errorf("Events: %v", err)
				break
			}
			for _, e := range evs {
				if e.Seq != after+1 {
					t.Errorf("followed event %d after %d", e.Seq, after)
				}
				after = e.Seq
			}
			seen = append(seen, evs...)
		}
		followed <- seen
	}()
	for i := 0; i < total; {
		n := 1 + i%3
		batch := make([]runstore.Event, 0, n)
		for j := 0; j < n && i < total; j++ {
			batch = append(batch, runstore.Event{Time: t0, Type: runstore.EventStepStarted, RunID: m.ID, Step: fmt.Sprint("s", i), Seq: 999})
			i++
		}
		if err := s.AppendEvents(ctx, m.ID, batch...); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
	}
	wg.Wait()
	seen := <-followed
	if len(seen) != total {
		t.Fatalf("the follower saw %d of %d events", len(seen), total)
	}
	for i, e := range seen {
		if e.Seq != int64(i+1) || e.Step != fmt.Sprint("s", i) || e.Type != runstore.EventStepStarted {
			t.Fatalf("event %d = %+v, want seq %d step s%d", i, e, i+1, i)
		}
	}
	evs, _, err := s.Events(ctx, m.ID, 150, 0)
	if err != nil || len(evs) != 50 || evs[0].Seq != 151 || evs[49].Seq != 200 {
		t.Fatalf("Events after 150 = %d events from %v, %v", len(evs), evs, err)
	}
	if evs, _, _ := s.Events(ctx, m.ID, 10, 5); len(evs) != 5 || evs[0].Seq != 11 {
		t.Fatalf("Events after 10, limit 5 = %v", evs)
	}
	if evs, _, _ := s.Events(ctx, m.ID, total, 0); len(evs) != 0 {
		t.Fatalf("Events after the last = %v", evs)
	}
	// Reading from the start again still works after a tail.
	if evs, _, _ := s.Events(ctx, m.ID, 0, 0); len(evs) != total {
		t.Fatalf("Events from the start = %d", len(evs))
	}
	res := &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: "done"}
	if err := s.AppendEvents(ctx, m.ID, runstore.Event{Time: t0, Type: runstore.EventStepFinished, RunID: m.ID, Step: "a", Result: res}); err != nil {
		t.Fatal(err)
	}
	evs, _, _ = s.Events(ctx, m.ID, total, 0)
	if len(evs) != 1 || evs[0].Seq != total+1 || evs[0].Result == nil || evs[0].Result.Output != "done" {
		t.Fatalf("the event with a result = %+v", evs)
	}
}

func testLogs(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	item := 2
	if err := s.AppendLog(ctx, m.ID,
		runstore.LogLine{Time: t0, Step: "a", Text: "hello"},
		runstore.LogLine{Time: t0, Step: "b", Item: &item, Text: "item two"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(ctx, m.ID, runstore.LogLine{Time: t0.Add(time.Second), Text: "run-level line"}); err != nil {
		t.Fatal(err)
	}
	lines, err := s.Logs(ctx, m.ID, 0)
	if err != nil || len(lines) != 3 {
		t.Fatalf("Logs = %v, %v", lines, err)
	}
	if l := lines[1]; l.Seq != 2 || l.Step != "b" || l.Item == nil || *l.Item != 2 || l.Text != "item two" || !l.Time.Equal(t0) {
		t.Fatalf("line 2 = %+v", l)
	}
	if l := lines[2]; l.Seq != 3 || l.Step != "" || l.Text != "run-level line" {
		t.Fatalf("line 3 = %+v", l)
	}
	more, err := s.Logs(ctx, m.ID, 2)
	if err != nil || len(more) != 1 || more[0].Seq != 3 {
		t.Fatalf("Logs after 2 = %v, %v", more, err)
	}
	if err := s.AppendLog(ctx, m.ID, runstore.LogLine{Time: t0, Step: "a", Text: "two\nlines"}); err != nil {
		t.Fatal(err)
	}
	more, _ = s.Logs(ctx, m.ID, 3)
	if len(more) != 1 || more[0].Seq != 4 || strings.Contains(more[0].Text, "\n") {
		t.Fatalf("a line with a newline = %+v; want one line", more)
	}
}

func testResolve(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	if _, err := runstore.Resolve(ctx, s, "last"); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("Resolve last of an empty store: %v", err)
	}
	a := newMeta(t, s, "x", t0)
	create(t, s, a)
	b := newMeta(t, s, "x", t0.Add(time.Hour))
	create(t, s, b)
	for ref, want := range map[string]string{
		"last":                          b.ID,
		a.ID:                            a.ID,
		" " + a.ID + "\n":               a.ID,
		strings.TrimPrefix(b.ID, "kr-"): b.ID,
	} {
		if got, err := runstore.Resolve(ctx, s, ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := runstore.Resolve(ctx, s, ""); !errors.Is(err, runstore.ErrNoRef) {
		t.Errorf("Resolve of nothing: %v", err)
	}
	if _, err := runstore.Resolve(ctx, s, "kr-zzzzzzzzzz"); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Resolve of a missing run: %v", err)
	}
	var amb *runstore.AmbiguousError
	for _, ref := range []string{"kr-", "kr", "k"} {
		if _, err := runstore.Resolve(ctx, s, ref); !errors.As(err, &amb) || len(amb.Matches) != 2 {
			t.Errorf("Resolve(%q), a prefix of both: %v", ref, err)
		}
	}
}

func testWritesToMissing(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	const id = "kr-missing0"
	for what, err := range map[string]error{
		"SaveMeta":      s.SaveMeta(ctx, &runstore.RunMeta{Run: runstore.Run{ID: id, Status: runstore.RunRunning}}),
		"SaveStep":      s.SaveStep(ctx, id, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}),
		"SaveItem":      s.SaveItem(ctx, id, "a", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}),
		"WriteArtifact": s.WriteArtifact(ctx, id, "a", "prompt.json", []byte("{}")),
		"AppendEvents":  s.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventRunStarted}),
		"AppendLog":     s.AppendLog(ctx, id, runstore.LogLine{Text: "x"}),
	} {
		if !errors.Is(err, runstore.ErrNotFound) {
			t.Errorf("%s to a missing run: %v, want ErrNotFound", what, err)
		}
	}
	if _, _, err := s.Events(ctx, id, 0, 0); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Events of a missing run: %v, want ErrNotFound", err)
	}
	if _, err := s.Logs(ctx, id, 0); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Logs of a missing run: %v, want ErrNotFound", err)
	}
	// And none of them made the run.
	if page, err := s.Query(ctx, runstore.Query{}); len(page.Runs) != 0 || err != nil {
		t.Errorf("after writes to a missing run, the store lists %v, %v", page.Runs, err)
	}
}

func testCreateTwice(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	again := *m
	again.Flow = "other"
	if l, err := s.Create(ctx, &again, []byte("name: other\n"), me, time.Minute); err == nil {
		_ = s.Release(ctx, l)
		t.Fatal("a second Create with the same id succeeded")
	}
	if got, _ := s.LoadSummary(ctx, m.ID); got == nil || got.Flow != "digest" {
		t.Fatalf("the second Create changed the run: %+v", got)
	}
}

func testConcurrentAppends(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				ev := runstore.Event{Time: t0, Type: runstore.EventStepStarted, RunID: m.ID, Step: fmt.Sprintf("w%d-%d", w, i)}
				if err := s.AppendEvents(ctx, m.ID, ev, ev); err != nil {
					t.Error(err)
					return
				}
				_ = s.AppendLog(ctx, m.ID, runstore.LogLine{Time: t0, Step: "a", Text: ev.Step})
			}
		}()
	}
	wg.Wait()
	evs, _, err := s.Events(ctx, m.ID, 0, 0)
	if err != nil || len(evs) != 200 {
		t.Fatalf("%d events, %v; want 200", len(evs), err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has number %d: numbers repeat or skip", i, e.Seq)
		}
		if i%2 == 1 && evs[i-1].Step != e.Step {
			t.Fatalf("the two events of one append were split: %s, %s", evs[i-1].Step, e.Step)
		}
	}
	lines, err := s.Logs(ctx, m.ID, 0)
	if err != nil || len(lines) != 100 || lines[99].Seq != 100 {
		t.Fatalf("%d log lines, %v", len(lines), err)
	}
}

// A run that starts while someone pages through the list is newer than the
// page they have: the pages that follow neither repeat nor skip a run.
func testPagesWhileRunsStart(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	var want []string
	for i := range 6 {
		m := newMeta(t, s, "x", t0.Add(time.Duration(i)*time.Second))
		create(t, s, m)
		want = append([]string{m.ID}, want...)
	}
	page, err := s.Query(ctx, runstore.Query{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{page.Runs[0].ID, page.Runs[1].ID}
	create(t, s, newMeta(t, s, "x", t0.Add(time.Hour)))
	for cursor := page.Next; cursor != ""; {
		page, err := s.Query(ctx, runstore.Query{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Runs {
			got = append(got, m.ID)
		}
		cursor = page.Next
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
}

func testArtifactNames(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "digest", t0)
	create(t, s, m)
	for _, name := range []string{"", "../../evil", "a/b", `a\b`, ".hidden", "result.json", "items"} {
		if err := s.WriteArtifact(ctx, m.ID, "a", name, []byte("x")); err == nil {
			t.Errorf("WriteArtifact named %q succeeded", name)
		}
	}
	if names, _ := s.Artifacts(ctx, m.ID, "a"); len(names) != 0 {
		t.Errorf("refused artifacts were kept: %v", names)
	}
}

// Pages calls each with every page of q in turn, following the cursors
// from q.Cursor; it fails t when the pages do not end within 100.
func Pages(t testing.TB, s runstore.Store, q runstore.Query, each func(runstore.Page, error)) {
	t.Helper()
	for range 100 {
		page, err := s.Query(context.Background(), q)
		each(page, err)
		if page.Next == "" {
			return
		}
		q.Cursor = page.Next
	}
	t.Fatalf("the pages of %+v never end", q)
}
