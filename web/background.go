package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// A run started from the page runs in the server process; the request is
// answered as soon as the run's first event shows it under way, or with
// the action's result if it ends (or fails) before that. A new run's id
// comes from the engine's OnCreated hook, called once the run is recorded
// and before its first step, so its first event is never missed.

// started is how a background action answered: the run's id (and its
// record if the action already returned), or the action's error.
type started struct {
	id  string
	run *engine.Run
	err error
}

// background runs do in the server's base context and answers once the
// run is under way. known is the run's id when the action continues an
// existing run ("" for a new one: do hands created to the engine as
// OnCreated, which names it).
func (s *Server) background(known string, do func(ctx context.Context, created func(id string)) (*engine.Run, error)) started {
	first := make(chan string, 1)
	var subMu sync.Mutex
	var sub *engine.Subscription
	var activeMu sync.Mutex
	var ended chan struct{} // the run's entry in s.active, once its id is known
	var endedID string
	watch := func(id string) {
		activeMu.Lock()
		ended, endedID = s.begin(id), id
		activeMu.Unlock()
		sb := s.cfg.Subs.Subscribe(id, 4)
		subMu.Lock()
		sub = sb
		subMu.Unlock()
		go func() {
			defer sb.Close()
			if _, ok := <-sb.Events(); ok {
				select {
				case first <- id:
				default:
				}
			}
		}()
	}
	if known != "" {
		watch(known)
	}
	var once sync.Once
	created := func(id string) { once.Do(func() { watch(id) }) }
	done := make(chan started, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		run, err := do(s.cfg.Base, created)
		r := started{run: run, err: err}
		if run != nil {
			r.id = run.ID
			if run.Status == engine.RunInterrupted {
				s.mu.Lock()
				s.interrupted = append(s.interrupted, run.ID)
				s.mu.Unlock()
			}
		}
		activeMu.Lock()
		if ended != nil {
			s.end(endedID, ended)
		}
		activeMu.Unlock()
		done <- r
		subMu.Lock()
		if sub != nil {
			sub.Close() // a run that never emitted leaves no subscription
		}
		subMu.Unlock()
	}()
	select {
	case r := <-done:
		return r
	case id := <-first:
		return started{id: id}
	}
}

// begin marks run id active in the background until end.
func (s *Server) begin(id string) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.active[id] = ch
	s.mu.Unlock()
	return ch
}

func (s *Server) end(id string, ch chan struct{}) {
	s.mu.Lock()
	if s.active[id] == ch {
		delete(s.active, id)
	}
	s.mu.Unlock()
	close(ch)
}

// unheldWait bounds how long an action waits for this server's own
// background run to let the run go.
const unheldWait = 10 * time.Second

// unheld does act on run id and, when act finds the run held by a
// background run of this very server that is about to return (its record
// already says it stopped, waiting or failed, while its lease is being let
// go), does it again once that has returned: a person who answers a wait
// the moment it shows is not told that the server itself holds the run.
func unheld[T any](s *Server, ctx context.Context, id string, act func() (T, error)) (T, error) {
	// Looked up first: act may start a background run of id itself.
	s.mu.Lock()
	ch := s.active[id]
	s.mu.Unlock()
	v, err := act()
	var he *engine.HeldError
	if ch == nil || !errors.As(err, &he) {
		return v, err
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return v, err
	case <-time.After(unheldWait):
		return v, err
	}
	return act()
}
