package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// defaultLeaseTTL is how long a run's lease lasts without renewal, for
// stores whose leases expire (a file store's lasts as long as its holder
// lives), unless Config.LeaseTTL says otherwise. It is renewed three times
// as often.
var defaultLeaseTTL = 30 * time.Second

func (e *Engine) leaseTTL() time.Duration {
	if e.cfg.LeaseTTL > 0 {
		return e.cfg.LeaseTTL
	}
	return defaultLeaseTTL
}

// leaseCheck is how often a lease that never expires by time (a file
// store's) is checked: it is lost if its lock file is removed or replaced.
var leaseCheck = time.Second

// keep renews l until the returned function releases it; a lease that
// never expires is checked as often, since it can still be lost.
func (e *Engine) keep(l *runstore.Lease) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	e.runMu.Lock()
	if e.leases == nil {
		e.leases = map[string]*runstore.Lease{}
	}
	e.leases[l.RunID] = l
	e.runMu.Unlock()
	every := leaseCheck
	if !l.Expires.IsZero() {
		every = max(l.TTL/3, 10*time.Millisecond)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				err := e.store.Renew(context.Background(), l)
				if errors.Is(err, runstore.ErrLeaseLost) {
					// Someone else may run it now: going on would run and
					// pay for its steps twice. What is recorded stays.
					e.leaseLost(l.RunID, err)
					return
				}
			}
		}
	}()
	released := false
	return func() {
		if released {
			return
		}
		released = true
		close(stop)
		<-done
		// While the run is still held here: nothing of this go notes a
		// command any more, and no other go has begun.
		e.tidyNotes(l.RunID)
		// Released in the store first: until then leaseOf says this engine
		// holds the run (awaitOwnRelease waits on it).
		_ = e.store.Release(context.Background(), l)
		e.runMu.Lock()
		if e.leases[l.RunID] == l {
			delete(e.leases, l.RunID)
		}
		e.runMu.Unlock()
	}
}

// acquire leases run id to this engine; a run someone else holds is a
// usage error (wait for it, or cancel it).
func (e *Engine) acquire(ctx context.Context, id string) (release func(), err error) {
	l, err := e.store.Acquire(ctx, id, e.cfg.Holder, e.leaseTTL())
	if err != nil {
		var he *HeldError
		if errors.As(err, &he) {
			return nil, &UsageError{Err: err}
		}
		return nil, err
	}
	return e.keep(l), nil
}

// ownReleaseWait bounds how long a retry waits for this engine's own go
// at a run that has ended to let its lease go.
const ownReleaseWait = 5 * time.Second

// awaitOwnRelease waits, for at most ownReleaseWait, until this engine
// holds no lease on run id: a go that ended the run releases it soon
// after its record says so.
func (e *Engine) awaitOwnRelease(ctx context.Context, id string) {
	deadline := time.Now().Add(ownReleaseWait)
	for e.leaseOf(id) != nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// leaseOf is the lease this engine holds on run id (nil: none).
func (e *Engine) leaseOf(id string) *runstore.Lease {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	return e.leases[id]
}

// holder tells who runs run id now, if anyone does.
func (e *Engine) holder(ctx context.Context, id string) (*runstore.Holder, error) {
	return e.store.Holder(ctx, id)
}

// track and untrack keep the executions this engine runs, so that a lost
// lease stops its run.
func (e *Engine) track(x *execution) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.running == nil {
		e.running = map[string]*execution{}
	}
	e.running[x.meta.ID] = x
}

func (e *Engine) untrack(x *execution) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.running[x.meta.ID] == x {
		delete(e.running, x.meta.ID)
	}
}

// leaseLost stops the run whose lease was lost, interrupted.
func (e *Engine) leaseLost(id string, err error) {
	e.runMu.Lock()
	x := e.running[id]
	e.runMu.Unlock()
	if x != nil {
		x.haltWith(fmt.Errorf("%w: another process may be running it now; it stopped here, its records kept", err))
	}
}

// DefaultLeaseTTL is how long a lease lasts when Config.LeaseTTL is unset.
func DefaultLeaseTTL() time.Duration { return defaultLeaseTTL }
