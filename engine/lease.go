package engine

import (
	"context"
	"errors"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// leaseTTL is how long a run's lease lasts without renewal, for stores
// whose leases expire (a file store's lasts as long as its holder lives).
const leaseTTL = 30 * time.Second

// held is a run leased to this engine, renewed until released.
type held struct {
	release func()
}

// keep renews l until the returned function releases it.
func (e *Engine) keep(l *runstore.Lease) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if l.Expires.IsZero() {
			<-stop
			return
		}
		t := time.NewTicker(max(l.TTL/3, time.Second))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// A lost lease is found by whoever takes it over; the
				// run's records stay whole either way.
				_ = e.store.Renew(context.Background(), l)
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
		_ = e.store.Release(context.Background(), l)
	}
}

// acquire leases run id to this engine; a run someone else holds is a
// usage error (wait for it, or cancel it).
func (e *Engine) acquire(ctx context.Context, id string) (release func(), err error) {
	l, err := e.store.Acquire(ctx, id, e.cfg.Holder, leaseTTL)
	if err != nil {
		var he *HeldError
		if errors.As(err, &he) {
			return nil, &UsageError{Err: err}
		}
		return nil, err
	}
	return e.keep(l), nil
}

// holder tells who runs run id now, if anyone does.
func (e *Engine) holder(ctx context.Context, id string) (*runstore.Holder, error) {
	return e.store.Holder(ctx, id)
}
