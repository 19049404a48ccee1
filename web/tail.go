package web

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/kitaruhq/kitaru/engine"
)

// A run's event streams read the end of its journal at the same moments:
// each step's end (which a stream reads from the journal, see follow)
// reaches every page at once. The end is read and encoded once, into the
// run's journalTail, and each stream sends from there; a stream behind
// what the tail holds (a page opened late on a long run) reads the journal
// itself.

// tailMax is how many of a run's latest events its tail keeps.
const tailMax = 256

type tailEvent struct {
	ev   engine.Event
	seq  int64
	key  eventKey
	data []byte // ev as sent
}

type journalTail struct {
	mu    sync.Mutex
	users int
	evs   []tailEvent // oldest first
	base  int64       // evs hold every readable event numbered after base, up to last
	last  int64
}

// tailOf is run id's tail, shared while a stream uses it (until done).
func (s *Server) tailOf(id string) (t *journalTail, done func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t = s.tails[id]
	if t == nil {
		t = &journalTail{}
		s.tails[id] = t
	}
	t.users++
	return t, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.users--; t.users == 0 {
			delete(s.tails, id)
		}
	}
}

// since is what the tail holds after seq, or ok false when it does not
// reach back that far.
func (t *journalTail) since(seq int64) (evs []tailEvent, ok bool) {
	if seq < t.base {
		return nil, false
	}
	i := len(t.evs)
	for i > 0 && t.evs[i-1].seq > seq {
		i--
	}
	return t.evs[i:], true
}

// holds says whether the tail holds the event of key k.
func (t *journalTail) holds(k eventKey) bool {
	for i := len(t.evs) - 1; i >= 0; i-- {
		if t.evs[i].key == k {
			return true
		}
	}
	return false
}

// read adds what the journal holds after the tail's end.
func (t *journalTail) read(ctx context.Context, s *Server, id string) error {
	evs, _, err := s.cfg.Store.Events(ctx, id, t.last, 0)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		t.evs = append(t.evs, tailEvent{ev: ev, seq: ev.Seq, key: keyOf(ev), data: data})
		t.last = max(t.last, ev.Seq)
	}
	if n := len(t.evs) - tailMax; n > 0 {
		t.base = t.evs[n-1].seq
		t.evs = append(t.evs[:0:0], t.evs[n:]...)
	}
	return nil
}
