package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// GET /api/runs/ID/events streams the run's events as server-sent events:
// first what its journal holds (after Last-Event-ID, when the browser
// reconnects), then what happens live. Live events come from the engine's
// subscription to the run when this process runs it (streamed text and log
// lines too), and from the journal, read again every Config.Poll, when
// another process does (a `kitaru run` in a shell). The stream stays open
// while the page is: a waiting run answered later goes on in the same
// stream. A page that goes away ends its request's context, which closes
// the subscription: it costs nothing after.

// pollBackoff bounds how much slower than Config.Poll a quiet journal is
// read (500ms: at most every 8s).
const pollBackoff = 16

// keepAlive is how often a comment keeps an idle stream's proxies awake.
const keepAlive = 20 * time.Second

// eventKey tells a journaled event from the same one delivered live: the
// engine stamps an event once, before journaling it and fanning it out.
type eventKey struct {
	t    engine.EventType
	step string
	item int
	at   int64
}

func keyOf(ev engine.Event) eventKey {
	k := eventKey{t: ev.Type, step: ev.Step, item: -1, at: ev.Time.UnixNano()}
	if ev.Item != nil {
		k.item = *ev.Item
	}
	return k
}

// stream is one client's event stream.
type stream struct {
	w       http.ResponseWriter
	fl      http.Flusher
	last    int64         // the journal's last event sent
	wait    time.Duration // until the journal is read again
	seen    map[eventKey]bool
	ordered []eventKey // seen, oldest first, to forget the oldest
	tail    *journalTail
}

const seenMax = 1024

func (st *stream) mark(k eventKey) {
	st.seen[k] = true
	st.ordered = append(st.ordered, k)
	if len(st.ordered) > seenMax {
		delete(st.seen, st.ordered[0])
		st.ordered = st.ordered[1:]
	}
}

// send writes ev (id: its journal number, for a durable one).
func (st *stream) send(ev engine.Event, seq int64) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return st.sendData(data, seq)
}

// sendData writes an event encoded.
func (st *stream) sendData(data []byte, seq int64) error {
	if seq > 0 {
		if _, err := fmt.Fprintf(st.w, "id: %d\n", seq); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(st.w, "data: %s\n\n", data); err != nil {
		return err
	}
	st.fl.Flush()
	return nil
}

// durable sends a journaled (or journal-bound) event once, whichever way
// it came first.
func (st *stream) durable(ev engine.Event, seq int64) error {
	return st.durableData(ev, seq, nil)
}

// durableData is durable with ev encoded already (data, or nil).
func (st *stream) durableData(ev engine.Event, seq int64, data []byte) error {
	k := keyOf(ev)
	if st.seen[k] {
		if seq > st.last {
			st.last = seq
		}
		return nil
	}
	st.mark(k)
	if seq == 0 {
		// A live event is the journal's next one: the engine journals and
		// fans out under one lock, in order.
		seq = st.last + 1
	}
	if seq > st.last {
		st.last = seq
	}
	if data != nil {
		return st.sendData(data, seq)
	}
	return st.send(ev, seq)
}

// catchUp sends what the journal holds after what was sent, through the
// run's tail; with want (the key of a live event that says it is
// journaled), the journal is not read again when the tail holds it.
func (s *Server) catchUp(ctx context.Context, id string, st *stream, want *eventKey) error {
	t := st.tail
	t.mu.Lock()
	if want == nil || !t.holds(*want) {
		if err := t.read(ctx, s, id); err != nil {
			t.mu.Unlock()
			return err
		}
	}
	evs, ok := t.since(st.last)
	evs = append([]tailEvent(nil), evs...)
	t.mu.Unlock()
	if !ok {
		return s.catchUpAlone(ctx, id, st)
	}
	for _, e := range evs {
		if err := st.durableData(e.ev, e.seq, e.data); err != nil {
			return err
		}
	}
	return nil
}

// catchUpAlone sends what the journal holds after what was sent, read
// for this stream alone.
func (s *Server) catchUpAlone(ctx context.Context, id string, st *stream) error {
	evs, _, err := s.cfg.Store.Events(ctx, id, st.last, 0)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := st.durable(ev, ev.Seq); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := s.cfg.Runner.Get(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "this connection cannot stream events", "")
		return
	}
	tail, untail := s.tailOf(run.ID)
	defer untail()
	st := &stream{w: w, fl: fl, seen: map[eventKey]bool{}, tail: tail}
	if l, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && l > 0 {
		st.last = l
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()

	id := run.ID
	st.wait = s.cfg.Poll
	poll := time.NewTimer(st.wait)
	defer poll.Stop()
	alive := time.NewTicker(keepAlive)
	defer alive.Stop()
	for {
		// Subscribe before reading the journal, so that nothing falls
		// between the two; what comes both ways is sent once.
		sub := s.cfg.Subs.Subscribe(id, 256)
		err := s.catchUp(ctx, id, st, nil)
		if err == nil {
			err = s.follow(ctx, id, st, sub, poll, alive.C)
		}
		sub.Close()
		if err != nil || ctx.Err() != nil {
			return
		}
	}
}

// follow sends live events until the subscription ends (the run's go in
// this process finished: the next go needs a new one) or the client goes.
func (s *Server) follow(ctx context.Context, id string, st *stream, sub *engine.Subscription, poll *time.Timer, alive <-chan time.Time) error {
	var dropped int64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-sub.Events():
			if !ok {
				return s.catchUp(ctx, id, st, nil)
			}
			var err error
			switch {
			case ephemeralEvent(ev.Type):
				err = st.send(ev, 0)
			case sub.Dropped() != dropped:
				// A full buffer lost events: the journal has them (and
				// this one, journaled before it was fanned out), in order
				// and numbered.
				dropped = sub.Dropped()
				err = s.catchUp(ctx, id, st, nil)
			case ev.Run != nil || ev.Result != nil:
				// The record an event points to is the engine's own, which
				// it goes on changing: the journal's copy of the event is
				// read instead (a run's start and end, a step's end).
				k := keyOf(ev)
				err = s.catchUp(ctx, id, st, &k)
			default:
				err = st.durable(ev, 0)
			}
			if err != nil {
				return err
			}
		case <-poll.C:
			before := st.last
			if err := s.catchUp(ctx, id, st, nil); err != nil {
				return err
			}
			// A journal that brings nothing new is read less and less
			// often (a page left open on a finished run costs little),
			// and as often as Poll again once it does.
			if st.last == before {
				st.wait = min(2*st.wait, pollBackoff*s.cfg.Poll)
			} else {
				st.wait = s.cfg.Poll
			}
			poll.Reset(st.wait)
		case <-alive:
			if _, err := fmt.Fprint(st.w, ": keep-alive\n\n"); err != nil {
				return err
			}
			st.fl.Flush()
		}
	}
}

// ephemeralEvent: events the engine fans out but never journals.
func ephemeralEvent(t engine.EventType) bool {
	return t == engine.EventLog || t == engine.EventText || t == engine.EventCallRetrying
}
