package web

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// countingStore counts the journal reads of the store it wraps.
type countingStore struct {
	runstore.Store
	reads atomic.Int64
}

func (c *countingStore) Events(ctx context.Context, id string, after int64, limit int) ([]runstore.Event, []string, error) {
	c.reads.Add(1)
	return c.Store.Events(ctx, id, after, limit)
}

// Pages following one run each get every durable event once, in order,
// and a step's end, which each reads from the journal, is read for them
// all about once, not once a page.
func TestEventsSharedTail(t *testing.T) {
	t.Parallel()
	var counted *countingStore
	h := newHarness(t, func(c *Config) {
		counted = &countingStore{Store: c.Store}
		c.Store = counted
	})
	const pages, steps = 6, 10
	id := h.start(h.flow("chain", chainFlow(steps)), nil)
	var streams []*sse
	for range pages {
		streams = append(streams, h.stream(id))
	}
	before := counted.reads.Load()
	h.open("chain")
	var want []string
	for i, s := range streams {
		var got []string
		for {
			e := s.next(t)
			got = append(got, e.id+" "+string(e.ev.Type)+" "+e.ev.Step)
			if e.ev.Type == engine.EventRunFinished {
				break
			}
		}
		if i == 0 {
			want = got
		} else if !slices.Equal(got, want) {
			t.Errorf("page %d got %q, page 0 %q", i, got, want)
		}
	}
	// Each page would read the journal at each step's end and the run's.
	if n := counted.reads.Load() - before; n >= pages*(steps+1)/2 {
		t.Errorf("the journal was read %d times for %d pages of %d steps", n, pages, steps)
	}
}

// A stream behind what the tail keeps is told so, to read the journal
// itself.
func TestTailSince(t *testing.T) {
	t.Parallel()
	tl := &journalTail{base: 10, last: 12, evs: []tailEvent{{seq: 11}, {seq: 12}}}
	if _, ok := tl.since(9); ok {
		t.Error("the tail answers for events it no longer holds")
	}
	for after, want := range map[int64]int{10: 2, 11: 1, 12: 0} {
		if evs, ok := tl.since(after); !ok || len(evs) != want {
			t.Errorf("since %d: %d events (%v), want %d", after, len(evs), ok, want)
		}
	}
}
