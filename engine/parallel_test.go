package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/providers"
)

// gauge is a model that counts the calls in flight. Each call stays until
// more calls than the bound under test are inside (the bound is broken:
// the peak shows it) or until linger has passed, so calls the engine lets
// run together do overlap. The test asserts on the peak, not on time.
type gauge struct {
	want   int
	linger time.Duration

	mu     sync.Mutex
	inside int
	peak   int
	calls  int
}

func (g *gauge) Current() (providers.Registry, error)           { return providers.Registry{}, nil }
func (g *gauge) Caller(reg providers.Registry) providers.Caller { return g }

func (g *gauge) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	g.mu.Lock()
	g.inside++
	g.calls++
	g.peak = max(g.peak, g.inside)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inside--
		g.mu.Unlock()
	}()
	until := time.Now().Add(g.linger)
	for time.Now().Before(until) && ctx.Err() == nil {
		g.mu.Lock()
		over := g.inside > g.want
		g.mu.Unlock()
		if over {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	return &providers.Response{Text: "answer to: " + req.Messages[len(req.Messages)-1].Content, Model: "fake/model",
		CredentialSource: providers.CredentialNone}, nil
}

// --parallel N bounds the model calls (and processes) in flight across the
// whole run, foreach items included, not the steps: N steps of N items
// each would be N² calls.
func TestParallelBoundsUnitsAcrossTheRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		parallel int
		steps    string
		status   RunStatus
		peak     int // calls in flight at most, and at some point
		calls    int
		order    map[string][]string // foreach step → its output, in item order
	}{{
		name:     "N=1 foreach of 5 and an independent step finish",
		parallel: 1,
		steps: `
  fan: {kind: llm, model: m, foreach: '${{ ["a", "b", "c", "d", "e"] }}', prompt: '${{ item }}'}
  solo: {kind: llm, model: m, prompt: solo}`,
		status: RunCompleted, peak: 1, calls: 6,
		order: map[string][]string{"fan": {"a", "b", "c", "d", "e"}},
	}, {
		name:     "N=2 two foreach steps of 4",
		parallel: 2,
		steps: `
  one: {kind: llm, model: m, foreach: '${{ ["a", "b", "c", "d"] }}', prompt: '${{ item }}'}
  two: {kind: llm, model: m, foreach: '${{ ["e", "f", "g", "h"] }}', prompt: '${{ item }}'}`,
		status: RunCompleted, peak: 2, calls: 8,
		order: map[string][]string{"one": {"a", "b", "c", "d"}, "two": {"e", "f", "g", "h"}},
	}, {
		name:     "N=3 foreach of 6 beside two plain steps",
		parallel: 3,
		steps: `
  fan: {kind: llm, model: m, foreach: '${{ ["a", "b", "c", "d", "e", "f"] }}', prompt: '${{ item }}'}
  x: {kind: llm, model: m, prompt: x}
  y: {kind: llm, model: m, prompt: y}`,
		status: RunCompleted, peak: 3, calls: 8,
		order: map[string][]string{"fan": {"a", "b", "c", "d", "e", "f"}},
	}, {
		name:     "N=8 foreach of 3 beside two plain steps all run at once",
		parallel: 8,
		steps: `
  fan: {kind: llm, model: m, foreach: '${{ ["a", "b", "c"] }}', prompt: '${{ item }}'}
  x: {kind: llm, model: m, prompt: x}
  y: {kind: llm, model: m, prompt: y}`,
		status: RunCompleted, peak: 5, calls: 5,
		order: map[string][]string{"fan": {"a", "b", "c"}},
	}, {
		name:     "N=1 foreach over a foreach's output",
		parallel: 1,
		steps: `
  first: {kind: llm, model: m, foreach: '${{ ["a", "b", "c"] }}', prompt: '${{ item }}'}
  second: {kind: llm, model: m, foreach: steps.first.output, prompt: '${{ item }}'}`,
		status: RunCompleted, peak: 1, calls: 6,
		order: map[string][]string{"second": {"answer to: a", "answer to: b", "answer to: c"}},
	}, {
		name:     "N=1 a waiting step holds no slot",
		parallel: 1,
		steps: `
  ask: {kind: wait, question: 'go on?', schema: {type: boolean}}
  fan: {kind: llm, model: m, foreach: '${{ ["a", "b", "c"] }}', prompt: '${{ item }}'}
  solo: {kind: llm, model: m, prompt: solo}`,
		status: RunWaiting, peak: 1, calls: 4,
		order: map[string][]string{"fan": {"a", "b", "c"}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			te := newEnv(t)
			g := &gauge{want: c.peak, linger: 150 * time.Millisecond}
			te.eng = New(Config{Store: te.store, Observer: te.events, Models: g})
			f := te.flow("name: bound\nsteps:" + c.steps + "\n")
			in, err := f.BindInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			run, err := te.eng.Start(t.Context(), StartOptions{Flow: f, Inputs: in, Parallel: c.parallel})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, c.status)
			if g.peak != c.peak || g.calls != c.calls {
				t.Errorf("%d calls, at most %d at once; want %d calls, at most %d at once", g.calls, g.peak, c.calls, c.peak)
			}
			for id, items := range c.order {
				var want []any
				for _, it := range items {
					want = append(want, "answer to: "+it)
				}
				if got := step(t, run, id).Output; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("step %s output %v, want %v", id, got, want)
				}
			}
		})
	}
}

// A step waiting to retry lets go of its slot: with --parallel 1 the other
// step runs between its attempts, and its next attempt sees that.
func TestRetryBackoffFreesTheSlot(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: backoff
steps:
  flaky:
    kind: checkpoint
    run: echo x >> COUNTER/flaky; test -f COUNTER/other
    retry: {attempts: 6, backoff: 100ms}
  other:
    kind: checkpoint
    run: touch COUNTER/other
`)
	in, _ := f.BindInputs(nil)
	run, err := te.eng.Start(t.Context(), StartOptions{Flow: f, Inputs: in, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	// flaky, first in the flow, went first and failed: other ran while it
	// waited, not after it.
	if a := step(t, run, "flaky").Attempts; a < 2 || te.count("flaky") != a {
		t.Errorf("flaky took %d attempts and ran %d times; want at least 2, each counted", a, te.count("flaky"))
	}
}

// slowItems is a store whose item records take until release is closed
// to be written, and which counts those under way.
type slowItems struct {
	runstore.Store
	release chan struct{}
	mu      sync.Mutex
	writing int
	peak    int
}

func (s *slowItems) SaveItem(ctx context.Context, id, step string, r *ItemResult) error {
	s.mu.Lock()
	s.writing++
	s.peak = max(s.peak, s.writing)
	s.mu.Unlock()
	<-s.release
	defer func() { s.mu.Lock(); s.writing--; s.mu.Unlock() }()
	return s.Store.SaveItem(ctx, id, step, r)
}

// A foreach item gives its slot to the next item once its work is done,
// while its record is written: with --parallel 1 and records that take
// their time, the next items' calls do not wait for the disk, though never
// more than N records are under way; the step ends only once every record
// is written.
func TestItemRecordsFreeTheirSlot(t *testing.T) {
	t.Parallel()
	st := &slowItems{Store: memstore.New(), release: make(chan struct{})}
	g := &gauge{want: 1}
	var events eventLog
	eng := New(Config{Store: st, Models: g, Observer: &events})
	te := newEnv(t)
	f := te.flow("name: fan\nsteps:\n  ask:\n    kind: llm\n    foreach: ${{ [1, 2, 3] }}\n    prompt: item ${{ item }}\n")
	in, _ := f.BindInputs(nil)
	done := make(chan *Run)
	go func() {
		run, err := eng.Start(t.Context(), StartOptions{Flow: f, Inputs: in, Parallel: 1})
		if err != nil {
			t.Error(err)
		}
		done <- run
	}()
	// Item 0's record is held back: item 1's call is made meanwhile, and
	// item 1 then waits for the one place among records under way.
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.calls >= 2 })
	select {
	case <-done:
		t.Fatal("the run ended before its item records were written")
	default:
	}
	close(st.release)
	run := <-done
	wantStatus(t, run, RunCompleted)
	if g.peak != 1 || g.calls != 3 || st.peak != 1 {
		t.Errorf("%d calls, %d at once, %d records written at once; want 3, 1 and 1", g.calls, g.peak, st.peak)
	}
	if items := step(t, run, "ask").Items; len(items) != 3 {
		t.Errorf("items %+v", items)
	}
}
