package web

import (
	"context"
	"sync"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A run started from the page runs in the server process; the request is
// answered as soon as the run's first event shows it under way, or with
// the action's result if it ends (or fails) before that.
//
// A new run's id is made by the store's NewID inside Start or Replay, long
// before they return. Tap wraps the store so that NewID tells the request
// that asked (found through the context) which id its run has.

// Tap wraps st so that a run started by this server is known by its id the
// moment it has one. Give the engine the store it returns.
func Tap(st runstore.Store) runstore.Store {
	if l, ok := st.(runstore.Locator); ok {
		return tapLocator{tapStore{st}, l}
	}
	return tapStore{st}
}

type tapStore struct{ runstore.Store }

type tapKey struct{}

// idHook hears the first id made in its context: the run's own (a run's
// sub-runs, made later, are not its).
type idHook struct {
	once sync.Once
	fn   func(id string)
}

func (t tapStore) NewID(ctx context.Context) (string, error) {
	id, err := t.Store.NewID(ctx)
	if h, ok := ctx.Value(tapKey{}).(*idHook); ok && err == nil {
		h.once.Do(func() { h.fn(id) })
	}
	return id, err
}

// tapLocator is the tap of a store that keeps files (and says where).
type tapLocator struct {
	tapStore
	runstore.Locator
}

// started is how a background action answered: the run's id (and its
// record if the action already returned), or the action's error.
type started struct {
	id  string
	run *engine.Run
	err error
}

// background runs do in the server's base context and answers once the
// run is under way. known is the run's id when the action continues an
// existing run ("" for a new one, whose id Tap reports).
func (s *Server) background(known string, do func(context.Context) (*engine.Run, error)) started {
	first := make(chan string, 1)
	var subMu sync.Mutex
	var sub *engine.Subscription
	watch := func(id string) {
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
	hook := &idHook{fn: watch}
	ctx := context.WithValue(s.cfg.Base, tapKey{}, hook)
	done := make(chan started, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		run, err := do(ctx)
		r := started{run: run, err: err}
		if run != nil {
			r.id = run.ID
			if run.Status == engine.RunInterrupted {
				s.mu.Lock()
				s.interrupted = append(s.interrupted, run.ID)
				s.mu.Unlock()
			}
		}
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
