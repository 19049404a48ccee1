package engine

import (
	"sync"
	"sync/atomic"
)

// Events leave a run two ways. Durable ones (a step started or finished,
// the run's start and end) are journaled in the store, where a follower in
// any process reads them by sequence number. Every event, ephemeral ones
// too (log lines as they are written, later streamed text), is fanned out
// in this process to the Observer and to subscribers: none of them can
// slow a run. The Observer gets every event in order through a queue of
// its own; a subscriber gets what its buffer holds and counts the rest.

// ephemeral says whether events of type t are only fanned out, never
// journaled: they are views of what a record already keeps (the log).
func ephemeral(t EventType) bool {
	return t == EventLog || t == EventText || t == EventCallRetrying
}

// EventLog is an ephemeral event: lines a step's command printed (Step,
// Item, Lines), as they are logged.
const EventLog EventType = "log"

// Subscription receives the events of the runs this engine executes.
type Subscription struct {
	ch      chan Event
	run     string
	dropped atomic.Int64
	b       *bus
	once    sync.Once
}

// Events is where the subscription's events arrive, in order. It is
// closed by Close, and after a run's run_finished for a subscription to
// one run.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped is how many events did not fit in the buffer and were not
// delivered (read the run's journal, or Get the run, to catch up).
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Subscription) Close() { s.b.remove(s) }

// bus fans events out to subscriptions without waiting for any.
type bus struct {
	mu   sync.Mutex
	subs map[*Subscription]bool
}

// Subscribe delivers the events of run id ("" : every run) that this
// engine executes from now on, buffer of them at most waiting (<= 0: 256).
func (e *Engine) Subscribe(run string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 256
	}
	s := &Subscription{ch: make(chan Event, buffer), run: run, b: &e.bus}
	e.bus.mu.Lock()
	if e.bus.subs == nil {
		e.bus.subs = map[*Subscription]bool{}
	}
	e.bus.subs[s] = true
	e.bus.mu.Unlock()
	return s
}

func (b *bus) remove(s *Subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.once.Do(func() { close(s.ch) })
}

// publish offers ev to every subscription that wants it; a full one drops
// it. A subscription to the run that finished ends.
func (b *bus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.run != "" && s.run != ev.RunID {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
		}
		if s.run != "" && ev.Type == EventRunFinished {
			delete(b.subs, s)
			s.once.Do(func() { close(s.ch) })
		}
	}
}

// observerQueue hands a run's events to the Observer from a goroutine of
// its own, in order: a slow Observer (a terminal) delays only itself.
type observerQueue struct {
	obs  Observer
	mu   sync.Mutex
	cond *sync.Cond
	q    []Event
	done bool
	idle chan struct{}
}

func newObserverQueue(obs Observer) *observerQueue {
	oq := &observerQueue{obs: obs, idle: make(chan struct{})}
	oq.cond = sync.NewCond(&oq.mu)
	go oq.deliver()
	return oq
}

func (oq *observerQueue) push(ev Event) {
	oq.mu.Lock()
	oq.q = append(oq.q, ev)
	oq.mu.Unlock()
	oq.cond.Signal()
}

func (oq *observerQueue) deliver() {
	defer close(oq.idle)
	for {
		oq.mu.Lock()
		for len(oq.q) == 0 && !oq.done {
			oq.cond.Wait()
		}
		if len(oq.q) == 0 {
			oq.mu.Unlock()
			return
		}
		batch := oq.q
		oq.q = nil
		oq.mu.Unlock()
		for _, ev := range batch {
			oq.obs.Event(ev)
		}
	}
}

// close waits until the Observer has had every event pushed.
func (oq *observerQueue) close() {
	oq.mu.Lock()
	oq.done = true
	oq.mu.Unlock()
	oq.cond.Signal()
	<-oq.idle
}
