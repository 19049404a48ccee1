package engine

import (
	"fmt"

	"github.com/kitaruhq/kitaru/providers"
)

// spendOf is what a finished step or item record tried and paid for, each
// attempt listed. A record holds the attempts of every go at it (they are
// folded in when it is written), so this replaces, never adds to, what was
// kept before: a retry interrupted and retried again counts nothing twice.
func spendOf(attempts int, errMsg *string, durationMS int64, usage providers.Usage, cost *float64, tries []Attempt) Spend {
	sp := Spend{Attempts: attempts, Usage: usage, CostUSD: cost, Tries: tries}
	if len(sp.Tries) == 0 && attempts > 0 {
		sp.Tries = []Attempt{{Attempt: attempts, Error: errMsg, DurationMS: durationMS, Usage: usage, CostUSD: cost}}
	}
	return sp
}

// spent reports whether the earlier goes tried anything at all.
func spentAny(sp Spend) bool { return sp.Attempts > 0 }

// foldEarlier adds the earlier goes' attempts, usage and cost to those of
// this go, given as pointers into a step or item record: the attempts are
// numbered on from the earlier ones.
func foldEarlier(sp Spend, attempts *int, errMsg *string, durationMS int64, usage *providers.Usage, cost **float64, tries *[]Attempt) {
	if !spentAny(sp) {
		return
	}
	now := *tries
	if len(now) == 0 && *attempts > 0 {
		now = []Attempt{{Attempt: *attempts, Error: errMsg, DurationMS: durationMS, Usage: *usage, CostUSD: *cost}}
	}
	all := make([]Attempt, 0, len(sp.Tries)+len(now))
	all = append(all, sp.Tries...)
	for _, a := range now {
		a.Attempt += sp.Attempts
		all = append(all, a)
	}
	*tries = all
	*attempts += sp.Attempts
	*usage = usage.Add(sp.Usage)
	*cost = providers.AddCost(*cost, sp.CostUSD)
}

// itemKey names a foreach item's entry in RunMeta.Earlier.
func itemKey(step string, item int) string { return fmt.Sprintf("%s#%d", step, item) }

// earlier is what earlier goes at a step or item (key) spent that is not in
// a record yet.
func (x *execution) earlier(key string) (Spend, bool) {
	x.earlierMu.Lock()
	defer x.earlierMu.Unlock()
	sp, ok := x.meta.Earlier[key]
	return sp, ok
}

// keepSpend puts sp in the run's meta (saved with it at the run's end) as
// all that a step or item without a record has spent: its record could not
// be written, or the run stopped before it ended. It replaces what was
// there, so sp must include that already.
func (x *execution) keepSpend(key string, sp Spend) {
	if !spentAny(sp) {
		return
	}
	x.earlierMu.Lock()
	defer x.earlierMu.Unlock()
	if x.meta.Earlier == nil {
		x.meta.Earlier = map[string]Spend{}
	}
	x.meta.Earlier[key] = sp
}

// forgetSpend drops a key whose spend a written record now holds.
func (x *execution) forgetSpend(key string) {
	x.earlierMu.Lock()
	defer x.earlierMu.Unlock()
	delete(x.meta.Earlier, key)
}

// stoppedSpend is what a unit the run stopped spent in its attempts that
// ended (res from runUnit, nil when none did), with before, what its
// earlier goes spent, folded in.
func stoppedSpend(res *unitResult, before Spend) Spend {
	if res == nil || len(res.Tries) == 0 {
		return before
	}
	sp := Spend{Attempts: len(res.Tries), Usage: res.Usage, CostUSD: res.Cost, Tries: res.Tries}
	foldEarlier(before, &sp.Attempts, nil, 0, &sp.Usage, &sp.CostUSD, &sp.Tries)
	return sp
}
