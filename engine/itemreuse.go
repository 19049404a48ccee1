package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kitaruhq/kitaru/engine/plan"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// A replay reuses the items of a foreach step one by one. Each item record
// carries a key: the hash of what the item's work depends on (the step's
// definition without its foreach, the model it resolves to, the inputs and
// the outputs of the steps it reads other than through foreach, its index
// when the step reads index) and of its own value. An item of the replay
// whose key a finished item of the source run has takes that record
// instead of running; the list around it may have grown, shrunk or been
// reordered.

// itemSource is where a replay's foreach step may take finished items from
// (runstore.ItemsSource is its record, for a driven replay's activities).
type itemSource struct {
	run string // the run whose item records are read
	// byIndex lets records without a key (written before keys were) match
	// the item at their position: only when the step's fingerprint is
	// unchanged and nothing upstream of it runs again or is overridden.
	byIndex bool
	// redo is the item --from STEP[N] names, which runs whatever matches
	// it; -1 when there is none.
	redo int
	from string // the --from selector, for reasons
	// whole: the source has a record of the whole step (completed or
	// failed), so every item of its list has one.
	whole bool
}

// itemWhy says why an item of a replay runs (or that it is reused).
type itemWhy int

const (
	itemReused     itemWhy = iota
	itemNoMatch            // no finished item of the source has its key
	itemUnfinished         // the source has its key, but did not finish it
	itemRedo               // --from STEP[N] names it
	itemUnreadable         // the source's record at its place cannot be read
	itemNotRun             // the source has no record at its place, and did not finish the step
)

// itemPick is what a replay does with one item: reuse src, or run (why).
type itemPick struct {
	src *ItemResult
	why itemWhy
}

// pickItems matches the items of a replay (their keys, in order) with the
// source's item records: same key at the same position first, so an
// unchanged list maps each item onto itself (duplicates keep their own
// outputs), then the same key anywhere, lowest position first. Each source
// record serves one item: the source paid for one call per record.
func pickItems(keys []string, src map[int]*ItemResult, byIndex bool, redo int) []itemPick {
	out := make([]itemPick, len(keys))
	used := map[int]bool{}
	finished := func(r *ItemResult) bool { return r != nil && r.Status == StepCompleted }
	for i, k := range keys {
		out[i].why = itemNoMatch
		if i == redo {
			out[i].why = itemRedo
			continue
		}
		r := src[i]
		if finished(r) && (k != "" && r.Key == k || r.Key == "" && byIndex) {
			out[i], used[i] = itemPick{src: r, why: itemReused}, true
		}
	}
	pool := map[string][]int{}
	unfinished := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(src)) {
		r := src[n]
		switch {
		case r == nil || r.Key == "":
		case !finished(r):
			unfinished[r.Key] = true
		case !used[n]:
			pool[r.Key] = append(pool[r.Key], n)
		}
	}
	for i, k := range keys {
		if out[i].why != itemNoMatch || k == "" {
			continue
		}
		if l := pool[k]; len(l) > 0 {
			out[i] = itemPick{src: src[l[0]], why: itemReused}
			pool[k] = l[1:]
		} else if unfinished[k] || byIndex && src[i] != nil && src[i].Key == "" && !finished(src[i]) {
			out[i].why = itemUnfinished
		}
	}
	return out
}

// explainMisses tells, of the items pickItems found no match for, those
// whose place in the source holds a record that cannot be read (damaged)
// and, when the source did not finish the step (whole: it did), those
// whose place holds none: neither is known to be new or changed.
func explainMisses(picks []itemPick, prev map[int]*ItemResult, damaged map[int]bool, whole bool) {
	for i := range picks {
		switch {
		case picks[i].why != itemNoMatch:
		case damaged[i]:
			picks[i].why = itemUnreadable
		case !whole && prev[i] == nil:
			picks[i].why = itemNotRun
		}
	}
}

// damagedItems are the items whose records err (from LoadItems) says
// cannot be read.
func damagedItems(err error) map[int]bool {
	out := map[int]bool{}
	var walk func(error)
	walk = func(err error) {
		var de *DamagedError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &de) && de.Part == runstore.PartItem {
			out[de.Item] = true
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// reason is why item i runs or is reused, as its record keeps it.
func (p itemPick) reason(src itemSource, i int) *Reason {
	r := &Reason{Code: runstore.ReasonNoMatch, Run: src.run}
	switch p.why {
	case itemReused:
		r.Code = runstore.ReasonMatched
		if p.src != nil && p.src.Index != i {
			n := p.src.Index
			r.Item = &n
		}
	case itemUnfinished:
		r.Code = runstore.ReasonUnfinished
	case itemUnreadable:
		r.Code = runstore.ReasonUnreadable
	case itemNotRun:
		r.Code = runstore.ReasonNotRun
	case itemRedo:
		r = &Reason{Code: runstore.ReasonFrom, From: src.from}
	}
	return r
}

// itemKeys are the keys of a foreach step's items (see above); "" for an
// item whose key cannot be made (a value JSON cannot hold), which then
// never matches.
func itemKeys(s *flowspec.Step, sc *flowspec.Scope, model string, list []any) []string {
	keys := make([]string, len(list))
	b := s.Items
	if b == nil {
		return keys
	}
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
		}
		h.Write([]byte{0})
	}
	write("kitaru item v1")
	write(b.Fingerprint())
	write("model=", model)
	for _, in := range b.Inputs {
		v, err := json.Marshal(sc.Inputs[in]) // map keys sort: stable
		if err != nil {
			return keys
		}
		write(in, "=", string(v))
	}
	for _, d := range b.Steps {
		// Outputs, not fingerprints: a step that ran again (--from
		// upstream) with the same fingerprint may have answered otherwise.
		v, err := json.Marshal(sc.Steps[d])
		if err != nil {
			return keys
		}
		write(d, "@", string(v))
	}
	base := h.Sum(nil)
	for i, item := range list {
		v, err := json.Marshal(item)
		if err != nil {
			continue
		}
		ih := sha256.New()
		ih.Write(base)
		if b.Index {
			ih.Write([]byte("index=" + strconv.Itoa(i) + "\x00"))
		}
		ih.Write(v)
		keys[i] = hex.EncodeToString(ih.Sum(nil)[:12])
	}
	return keys
}

// itemModel is the model an llm step's items call ("" for other steps, or
// when it cannot be resolved: the call then fails on its own), so that
// re-pointing an alias re-runs them.
func (x *execution) itemModel(s *flowspec.Step) string {
	if s.LLM == nil || x.meta.Registry == nil {
		return ""
	}
	// Every model of a list, as for the step (see modelChanges); one
	// model gives what it gave before lists.
	models := s.LLM.Models()
	out := make([]string, len(models))
	for i, m := range models {
		if res, err := x.meta.Registry.Resolve(m, nil); err == nil {
			out[i] = res.Model
		}
	}
	return strings.Join(out, " ")
}

// itemSelector splits --from STEP[N] into STEP and N (-1 without [N]).
func itemSelector(sel string) (string, int, error) {
	base, rest, ok := strings.Cut(sel, "[")
	if !ok {
		return sel, -1, nil
	}
	num, ok := strings.CutSuffix(rest, "]")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || num != strconv.Itoa(n) || base == "" {
		return "", 0, &UsageError{Err: &ItemChoiceError{Role: SelectFrom, Sel: sel, Step: strings.TrimSpace(base), Problem: ItemBadSelector}}
	}
	return base, n, nil
}

// checkItemSelector refuses --from STEP[N] for a step without foreach, and
// an N the source run's records of the step show there is nothing to run
// again for: past the items of a step that completed, or, for one that did
// not (failed, interrupted, never ran), past the last item it recorded.
// Such an item has no record, so any replay runs it: the selector would
// pick nothing.
func (e *Engine) checkItemSelector(ctx context.Context, s *flowspec.Step, n int, srcID string, ie IndexEntry, has bool) error {
	refuse := func(p ItemProblem, items int, status StepStatus) error {
		return &UsageError{Err: &ItemChoiceError{Role: SelectFrom, Sel: fmt.Sprintf("%s[%d]", s.ID, n), Step: s.ID, Item: n,
			Problem: p, Items: items, Run: srcID, Status: status}}
	}
	if s.Foreach == nil {
		return refuse(ItemNoForeach, 0, "")
	}
	home := ie.Run
	if home == "" {
		home = srcID
	}
	if has && ie.Status == StepSkipped {
		return refuse(ItemSkipped, 0, "")
	}
	items, err := e.store.LoadItems(ctx, home, s.ID)
	if has && ie.Status == StepCompleted {
		if err != nil {
			return err
		}
		if n >= len(items) {
			return refuse(ItemPastEnd, len(items), "")
		}
		return nil
	}
	if err != nil {
		return nil // a damaged item record runs again; the execution says so
	}
	last := -1
	for i := range items {
		last = max(last, i)
	}
	if n <= last {
		return nil
	}
	return refuse(ItemUnrecorded, last+1, ie.Status)
}

// itemRange says how many items a step has: "3 items (each[0] to each[2])".
func itemRange(id string, n int) string {
	switch n {
	case 0:
		return "no items"
	case 1:
		return fmt.Sprintf("1 item (%s[0])", id)
	}
	return fmt.Sprintf("%d items (%s[0] to %s[%d])", n, id, id, n-1)
}

// itemSources picks, for every foreach step a replay runs, the run whose
// finished items it may reuse: the one holding the step's record in the
// source, or the source itself (a step stopped before its record was
// written keeps its items there). The step --from names whole runs all
// its items again; --from STEP[N] runs item N only.
func itemSources(g *graph, index map[string]IndexEntry, srcID string, fps map[string]string,
	rp plan.ReplayPlan, models map[string]*ModelChange, from string, fromItem int) map[string]itemSource {
	out := map[string]itemSource{}
	for _, id := range g.topo() {
		s := g.steps[id]
		if s.Foreach == nil {
			continue
		}
		if _, runs := rp.Runs[id]; !runs {
			continue
		}
		if id == from && fromItem < 0 {
			continue
		}
		ie, has := index[id]
		src := itemSource{run: ie.Run, redo: -1}
		if src.run == "" {
			src.run = srcID
		}
		// Keyless records (an older kitaru's) are trusted by position only
		// when nothing they depend on changed, their model included; a
		// record of the whole step means each item has one.
		src.byIndex = has && ie.Fingerprint == fps[id] && !rp.Tainted[id] && models[id] == nil
		src.whole = has && (ie.Status == StepCompleted || ie.Status == StepFailed)
		if id == from {
			src.redo, src.from = fromItem, fmt.Sprintf("%s[%d]", id, fromItem)
		}
		out[id] = src
	}
	return out
}

// itemsRecord is srcs as a driven run's meta keeps them.
func itemsRecord(srcs map[string]itemSource) map[string]runstore.ItemsSource {
	if len(srcs) == 0 {
		return nil
	}
	out := make(map[string]runstore.ItemsSource, len(srcs))
	for id, s := range srcs {
		out[id] = runstore.ItemsSource{Run: s.run, ByIndex: s.byIndex, Redo: s.redo, From: s.from, Whole: s.whole}
	}
	return out
}

// itemsOfRecord is itemsRecord's inverse.
func itemsOfRecord(rec map[string]runstore.ItemsSource) map[string]itemSource {
	if len(rec) == 0 {
		return nil
	}
	out := make(map[string]itemSource, len(rec))
	for id, s := range rec {
		out[id] = itemSource{run: s.Run, byIndex: s.ByIndex, redo: s.Redo, from: s.From, whole: s.Whole}
	}
	return out
}
