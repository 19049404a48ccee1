package engine

import "context"

// slots bound the units doing work at once across a whole run: a plain
// step is one unit and so is each foreach item, so --parallel N means at
// most N model calls or processes in flight, not N steps of N items each.
// A foreach step holds no slot while it only dispatches its items (with
// N=1 it would otherwise wait forever for the slot it holds itself), and
// a waiting step holds none: its executor returns once the question is
// recorded.
type slots chan struct{}

// slot is one unit's claim on a place in the run. The unit lets go of it
// while it waits to retry, so a backoff does not keep other work waiting.
// Only the unit's goroutine touches it.
type slot struct {
	pool slots
	held bool
}

// taken is a slot the caller has already sent into the pool.
func (p slots) taken() *slot { return &slot{pool: p, held: true} }

// take waits for a free place, or for ctx to end (then it returns ctx's
// error and holds nothing).
func (p slots) take(ctx context.Context) (*slot, error) {
	s := &slot{pool: p}
	return s, s.take(ctx)
}

func (s *slot) take(ctx context.Context) error {
	if s == nil || s.held {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.pool <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees the place; it may be called more than once.
func (s *slot) release() {
	if s != nil && s.held {
		<-s.pool
		s.held = false
	}
}
