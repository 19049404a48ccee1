package cli

import (
	"fmt"
	"math"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// budgetFlags are the flags of the commands that start or continue a run
// that set its budget; each wins over the flow's budget: (or, continuing,
// over what the run recorded).
type budgetFlags struct {
	MaxCost   *float64 `name:"max-cost" help:"Start no model call once the run has spent this many US dollars (wins over the flow's budget: max_cost_usd)." placeholder:"USD"`
	MaxTokens *int     `name:"max-tokens" help:"Start no model call once the run has used this many tokens, input and output (wins over the flow's budget: max_tokens)." placeholder:"N"`
}

// budget is the limits the flags set (zero where unset).
func (f budgetFlags) budget() (flowspec.Budget, error) {
	var b flowspec.Budget
	if f.MaxCost != nil {
		if c := *f.MaxCost; !(c > 0) || math.IsInf(c, 0) {
			return b, usageErr(fmt.Errorf("--max-cost must be a number of US dollars above 0, such as 2.5, not %g", c))
		}
		b.MaxCostUSD = *f.MaxCost
	}
	if f.MaxTokens != nil {
		if *f.MaxTokens < 1 {
			return b, usageErr(fmt.Errorf("--max-tokens must be a whole number of at least 1, not %d", *f.MaxTokens))
		}
		b.MaxTokens = *f.MaxTokens
	}
	return b, nil
}

// continueOptions are the engine options of resume and retry.
func (f budgetFlags) continueOptions() ([]engine.ContinueOption, error) {
	b, err := f.budget()
	if err != nil || b.IsZero() {
		return nil, err
	}
	return []engine.ContinueOption{engine.WithBudget(b)}, nil
}

// budgetEndText words a run stopped by its budget.
func budgetEndText(sp *runstore.BudgetSpent) string {
	if sp == nil {
		return "the run's budget is spent"
	}
	what := fmt.Sprintf("%s of its %s budget", viewCost(sp.CostUSD), viewCost(sp.Limit.MaxCostUSD))
	if sp.Reached == "max_tokens" {
		what = fmt.Sprintf("%s of its %s tokens", viewInt(sp.Usage.Total()), viewInt(sp.Limit.MaxTokens))
	}
	return "budget exceeded: the run has spent " + what + ", so no new model call started"
}

// raiseBudgetText words RemedyRaiseBudget.
func raiseBudgetText(r runstore.Remedy) string {
	flag := "--max-cost USD"
	if r.Name == "max_tokens" {
		flag = "--max-tokens N"
	}
	return fmt.Sprintf("continue it with a larger budget: `kitaru resume %s %s` (finished steps are not run again)", r.Run, flag)
}
