package engine

import (
	"context"
	"sync"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// A unit is its conversation's work.Loop: the records of an llm step's
// turns go to the run's store, and its tool calls take places among the
// run's parallel units.
var _ work.Loop = (*unit)(nil)

// LoadTurns reads the unit's conversation records.
func (u *unit) LoadTurns(ctx context.Context) ([]*runstore.TurnRecord, error) {
	return u.x.st.LoadTurns(u.x.sc, u.x.meta.ID, u.step.ID, u.item)
}

// SaveTurn records one model turn or tool call of the unit's conversation. It is
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

// recordedSpend puts in usage and cost what the model turns recorded for
// step s (or its item) spent, when it keeps turn records: every model
// call of its conversations is one, whichever go at the run made it (a
// killed kitaru's too, which nothing else remembers), and every call of a
// flow: tool records what its child run spent, so their sum is the
// step's spend and replaces what the goes' attempts added up.
func (x *execution) recordedSpend(s *flowspec.Step, item *int, usage *providers.Usage, cost **float64) {
	if s == nil || !executors.RecordsTurns(s.LLM) {
		return
	}
	recs, err := x.st.LoadTurns(x.sc, x.meta.ID, s.ID, item)
	if err != nil {
		return // the attempts' sums stand
	}
	var u providers.Usage
	var c *float64
	found := false
	for _, r := range recs {
		if r.Tool != nil && r.Tool.Usage != nil {
			// A flow: tool's child run.
			found = true
			u, c = u.Add(*r.Tool.Usage), providers.AddCost(c, r.Tool.CostUSD)
		}
		if r.Model == nil {
			continue
		}
		found = true
		u, c = u.Add(r.Model.Usage), providers.AddCost(c, r.Model.CostUSD)
		for _, f := range r.Model.FailedModels {
			u, c = u.Add(f.Usage), providers.AddCost(c, f.CostUSD)
		}
	}
	if found {
		*usage, *cost = u, c
	}
}
