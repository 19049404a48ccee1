package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// A run's budget (the flow's budget:, --max-cost, --max-tokens) bounds
// what it spends on model calls, counted as its usage and cost totals
// count: every call of every attempt, fallback tries included, and what
// earlier goes at the run spent; a replay counts only its own calls, as
// reused steps cost it nothing. Once the run has spent it, no model call
// starts: an llm step (or item) ready to run is not started, and a call a
// running step is about to make is refused, which stops that step as a
// stop would (no record; what it spent stays counted). Calls already in
// flight finish and are recorded, so a run can end a little past its
// budget. Steps that call no model still run. The run then ends failed,
// its ending budget_exceeded, and resume or retry with a larger budget
// continues it: nothing finished runs again.
//
// A child run (a flow step's, a flow: tool's) is held to its parent's
// budget, and theirs, beside its own: its calls count against each as
// they are made, and once one is spent the child is held back as its
// parent would be, ending budget_exceeded; the parent then holds the step
// (or tool call) that runs it, unrecorded, and a resume of the parent with
// a larger budget continues the child.

// ContinueOption changes how Resume and Retry continue a run.
type ContinueOption func(*continueConfig)

type continueConfig struct {
	budget  flowspec.Budget
	noCache bool
	flow    *flowspec.Flow // WithFlow
	// driven: the run goes on driven by this workflow (RetryDriven),
	// whose spec is left in spec instead of running here.
	driven *runstore.TemporalRef
	spec   **DriveSpec
}

// WithBudget sets, from this go on, the limits b sets over those the run
// recorded (--max-cost and --max-tokens over the flow's budget:).
func WithBudget(b flowspec.Budget) ContinueOption {
	return func(c *continueConfig) { c.budget = c.budget.Over(b) }
}

// budgetOf is how a run records limits: nil for none.
func budgetOf(b flowspec.Budget) *flowspec.Budget {
	if b.IsZero() {
		return nil
	}
	return &b
}

// budget is what a go at a run has spent against its limits; nil (no
// limits) never holds anything back.
type budget struct {
	limit flowspec.Budget

	mu    sync.Mutex
	usage providers.Usage
	cost  float64
	held  bool // a model call or an llm unit was held back
}

// newBudget starts counting from what the run had spent already; nil
// without limits.
func newBudget(limit *flowspec.Budget, usage providers.Usage, cost float64) *budget {
	if limit == nil || limit.IsZero() {
		return nil
	}
	return &budget{limit: *limit, usage: usage, cost: cost}
}

// reached is the limit the run has spent ("" while it has not).
func (b *budget) reached() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reachedLocked()
}

func (b *budget) reachedLocked() string {
	switch {
	case b.limit.MaxCostUSD > 0 && b.cost >= b.limit.MaxCostUSD:
		return "max_cost_usd"
	case b.limit.MaxTokens > 0 && b.usage.Total() >= b.limit.MaxTokens:
		return "max_tokens"
	}
	return ""
}

// holds says whether a model call (or an llm unit) may not start now, and
// notes it when so.
func (b *budget) holds() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reachedLocked() == "" {
		return false
	}
	b.held = true
	return true
}

// add counts what a call spent.
func (b *budget) add(u providers.Usage, cost *float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.usage = b.usage.Add(u)
	if cost != nil {
		b.cost += *cost
	}
}

// stopped is the figures of a go the budget held something back in; nil
// when it held nothing.
func (b *budget) stopped() *runstore.BudgetSpent {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.held {
		return nil
	}
	return &runstore.BudgetSpent{Limit: b.limit, Usage: b.usage, CostUSD: b.cost, Reached: b.reachedLocked()}
}

// budgetCaller counts every answer against the run's budget and refuses a
// call once it is spent.
type budgetCaller struct {
	next providers.Caller
	b    *budget
	// held, when set, notes a refusal too: a child run's, whose parent's
	// budget b is.
	held *atomic.Bool
}

func (c budgetCaller) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	if c.b.holds() {
		if c.held != nil {
			c.held.Store(true)
		}
		return nil, &budgetError{reached: c.b.reached()}
	}
	resp, err := c.next.Call(ctx, req)
	if resp != nil {
		c.b.add(resp.Usage, resp.CostUSD)
	}
	return resp, err
}

// budgetError is a call the budget refused. It is never a step's error:
// the step is held back (see heldByBudget).
type budgetError struct{ reached string }

func (e *budgetError) Error() string {
	return fmt.Sprintf("not called: the run has spent its budget (%s)", e.reached)
}

func (e *budgetError) Is(target error) bool {
	return target == work.ErrBudgetSpent || target == providers.ErrPermanent
}

// heldByBudget says whether a unit's error is the budget refusing a call.
func heldByBudget(err error) bool { return errors.Is(err, work.ErrBudgetSpent) }

// startBudget counts this go's spend from the run's totals so far and puts
// the budget between the run's steps and the model caller.
func (x *execution) startBudget() {
	if x.meta.Budget != nil {
		rec := x.record()
		x.addUnrecordedItems(rec)
		x.budget = newBudget(x.meta.Budget, rec.Usage, rec.CostUSD)
		if x.budget != nil && x.caller != nil {
			x.caller = budgetCaller{next: x.caller, b: x.budget}
		}
	}
	if x.caller == nil {
		return
	}
	for _, b := range x.outer {
		x.caller = budgetCaller{next: x.caller, b: b, held: &x.outerHeld}
	}
}

// budgets are the run's own budget and those it is held to as a child,
// for a child run of its own.
func (x *execution) budgets() []*budget {
	if x.budget == nil {
		return x.outer
	}
	return append([]*budget{x.budget}, x.outer...)
}

// budgetHolds says whether a model call may not start now, by the run's
// own budget or one it is held to as a child, and notes it when so.
func (x *execution) budgetHolds() bool {
	if x.budget.holds() {
		return true
	}
	for _, b := range x.outer {
		if b.holds() {
			x.outerHeld.Store(true)
			return true
		}
	}
	return false
}

// holdsModel says whether step s, about to start, is held back by the
// budget: an llm step once the run has spent it.
func (x *execution) holdsModel(s *flowspec.Step) bool {
	return s.Kind == flowspec.KindLLM && x.budgetHolds()
}

// budgetEnd is the ending of a go the budget held something back in: the
// run's own, or for a child run, its parent's (the figures are then the
// parent's).
func (x *execution) budgetEnd() (runEnd, bool) {
	sp := x.budget.stopped()
	if sp == nil && x.outerHeld.Load() {
		for _, b := range x.outer {
			if sp = b.stopped(); sp != nil {
				break
			}
		}
	}
	if sp == nil {
		return runEnd{}, false
	}
	return runEnd{RunFailed, &Ending{Code: runstore.EndBudgetExceeded, Budget: sp}, nil}, true
}

// childBudgetHeld is the error of a step (or tool call) whose child run
// ended budget_exceeded while a budget this run is held to is spent: the
// step is held back, as its own call would be, for a resume with a larger
// budget. Nil when the child's own budget stopped it (a failure).
func (x *execution) childBudgetHeld(run *Run) error {
	if run.Ending == nil || run.Ending.Code != runstore.EndBudgetExceeded || !x.budgetHolds() {
		return nil
	}
	reached := x.budget.reached()
	for _, b := range x.outer {
		if reached == "" {
			reached = b.reached()
		}
	}
	return &budgetError{reached: reached}
}
