package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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

// itemSource is where a replay's foreach step may take finished items from.
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
}

// itemWhy says why an item of a replay runs (or that it is reused).
type itemWhy int

const (
	itemReused     itemWhy = iota
	itemNoMatch            // no finished item of the source has its key
	itemUnfinished         // the source has its key, but did not finish it
	itemRedo               // --from STEP[N] names it
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

// reason is the reason the record of item i gives.
func (p itemPick) reason(src itemSource, i int) string {
	switch p.why {
	case itemReused:
		s := "reused from " + src.run
		if p.src != nil && p.src.Index != i {
			s += fmt.Sprintf(" (its item %d)", p.src.Index)
		}
		return s
	case itemUnfinished:
		return "it did not complete in " + src.run
	case itemRedo:
		return "--from " + src.from
	}
	return "new or changed: no finished item of " + src.run + " has its value and inputs"
}

// itemsSummary is what a foreach step's reason adds about its items:
// "items: 3 reused from kr-x, 1 ran (1 new or changed)".
func itemsSummary(src string, items []ItemResult, picks []itemPick) string {
	reused := 0
	for _, it := range items {
		if it.Reused {
			reused++
		}
	}
	s := fmt.Sprintf("items: %d reused from %s, %d ran", reused, src, len(items)-reused)
	counts := map[itemWhy]int{}
	for i, p := range picks {
		if i < len(items) && !items[i].Reused {
			counts[p.why]++
		}
	}
	var parts []string
	if n := counts[itemNoMatch]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d new or changed", n))
	}
	if n := counts[itemUnfinished]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unfinished in %s", n, src))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
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
	res, err := x.meta.Registry.Resolve(s.LLM.Model, nil)
	if err != nil {
		return ""
	}
	return res.Model
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
		return "", 0, &UsageError{Err: fmt.Errorf("--from %q: write STEP[N] with N an item's number from 0, e.g. --from %s[0]", sel, strings.TrimSpace(base))}
	}
	return base, n, nil
}

// checkItemSelector refuses --from STEP[N] for a step without foreach, and
// an N the source run's record of the step shows is out of range (when the
// step did not finish there, execution tells).
func (e *Engine) checkItemSelector(ctx context.Context, s *flowspec.Step, n int, srcID string, ie IndexEntry, has bool) error {
	sel := fmt.Sprintf("%s[%d]", s.ID, n)
	if s.Foreach == nil {
		return &UsageError{Err: fmt.Errorf("--from %s: step %s has no foreach, so it has no items; write --from %s to run it again", sel, s.ID, s.ID)}
	}
	if !has {
		return nil
	}
	home := ie.Run
	if home == "" {
		home = srcID
	}
	switch ie.Status {
	case StepSkipped:
		return &UsageError{Err: fmt.Errorf("--from %s: step %s was skipped in run %s, so it has no items; write --from %s to run it again", sel, s.ID, srcID, s.ID)}
	case StepCompleted:
		items, err := e.store.LoadItems(ctx, home, s.ID)
		if err != nil {
			return err
		}
		if n >= len(items) {
			return &UsageError{Err: fmt.Errorf("--from %s: step %s had %s in run %s", sel, s.ID, itemRange(s.ID, len(items)), srcID)}
		}
	}
	return nil
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
	why map[string]string, overrides map[string]any, models map[string]string, from string, fromItem int) map[string]itemSource {
	out := map[string]itemSource{}
	// tainted: steps downstream of one that runs again or is overridden,
	// whose keyless records cannot be trusted by position.
	var tainted map[string]bool
	for _, id := range g.topo() {
		s := g.steps[id]
		if s.Foreach == nil {
			continue
		}
		if _, runs := why[id]; !runs {
			continue
		}
		if id == from && fromItem < 0 {
			continue
		}
		if tainted == nil {
			tainted = taintedSteps(g, why, overrides)
		}
		ie, has := index[id]
		src := itemSource{run: ie.Run, redo: -1}
		if src.run == "" {
			src.run = srcID
		}
		// Keyless records (an older kitaru's) are trusted by position only
		// when nothing they depend on changed, their model included.
		src.byIndex = has && ie.Fingerprint == fps[id] && !tainted[id] && models[id] == ""
		if id == from {
			src.redo, src.from = fromItem, fmt.Sprintf("%s[%d]", id, fromItem)
		}
		out[id] = src
	}
	return out
}

// taintedSteps are the steps with an ancestor that runs again (why) or is
// overridden.
func taintedSteps(g *graph, why map[string]string, overrides map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, id := range g.topo() {
		for _, d := range g.steps[id].Deps {
			_, runs := why[d]
			_, over := overrides[d]
			if runs || over || out[d] {
				out[id] = true
				break
			}
		}
	}
	return out
}
