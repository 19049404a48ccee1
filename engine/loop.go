package engine

import (
	"context"
	"sync"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/providers"
)

// A unit is its tool loop's work.Loop: the loop's records go to the run's
// store, and its tool calls take places among the run's parallel units.
var _ work.Loop = (*unit)(nil)

// LoadTurns reads the unit's tool loop records.
func (u *unit) LoadTurns(ctx context.Context) ([]*runstore.TurnRecord, error) {
	return u.x.st.LoadTurns(u.x.sc, u.x.meta.ID, u.step.ID, u.item)
}

// SaveTurn records one model turn or tool call of the unit's loop. It is
// written with the store's context, as a step's record is: a stop that
// comes as it is written does not lose what was paid for.
func (u *unit) SaveTurn(ctx context.Context, r *runstore.TurnRecord) error {
	r.Item = u.item
	hook("turn:before-record", "")
	if err := u.x.st.SaveTurn(u.x.sc, u.x.meta.ID, u.step.ID, r); err != nil {
		return err
	}
	hook("turn:after-record", "")
	return nil
}

// Parallel runs fns as foreach items run: each as soon as the run has a
// free place. The unit lets go of its own meanwhile (it only waits), so
// with --parallel 1 the calls run one after the other.
func (u *unit) Parallel(ctx context.Context, fns []func()) {
	u.slot.release()
	var wg sync.WaitGroup
	for _, fn := range fns {
		sl, err := u.x.slots.take(ctx)
		if err != nil {
			break
		}
		wg.Go(func() {
			defer sl.release()
			fn()
		})
	}
	wg.Wait()
	_ = u.slot.take(ctx)
}

// turnsSpend is what a tool loop's turns spent: every model call of the
// loop is a turn of its record, whichever go at the run made it, so the
// sum over them is the step's (or item's) usage and cost.
func turnsSpend(turns []runstore.Turn) (providers.Usage, *float64) {
	var u providers.Usage
	var cost *float64
	for _, t := range turns {
		u = u.Add(t.Usage)
		cost = providers.AddCost(cost, t.CostUSD)
	}
	return u, cost
}
