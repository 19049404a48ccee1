package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitaruhq/kitaru/engine/executors"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// unit is one execution of a step: the whole step, or one foreach item.
type unit struct {
	x     *execution
	step  *flowspec.Step
	scope *flowspec.Scope
	item  *int
	env   []string  // secret keys for a run: command
	red   *redactor // masks the secret values (an llm call adds its key)
	slot  *slot     // its place among the run's parallel units
	// masked: the attempt's output or error had a secret masked. The tool
	// calls of a loop mask from goroutines of their own (Parallel), so it
	// is set under maskedMu; it is read once they have ended.
	masked   bool
	maskedMu sync.Mutex
}

// unitResult is what an executor produced.
type unitResult = work.Result

// mask masks s and remembers whether that changed it. The unit's own
// goroutine calls it, and its tool calls' (not the copiers of a command's
// output).
func (u *unit) mask(s string) string {
	out, m := u.red.mask(s)
	u.noteMask(m)
	return out
}

func (u *unit) noteMask(m bool) {
	if m {
		u.maskedMu.Lock()
		u.masked = true
		u.maskedMu.Unlock()
	}
}

// maskErr is err with its message masked, keeping the way out it offers.
func (u *unit) maskErr(err error) error {
	masked := errors.New(u.mask(err.Error()))
	if r := runstore.RemedyOf(err); r != nil {
		return runstore.Advise(masked, *r)
	}
	return masked
}

// value is v with every string in it masked (see mask).
func (u *unit) value(v any) any {
	out, m := u.red.value(v)
	u.noteMask(m)
	return out
}

// output is the step's output from what a command or a model printed,
// given masked (u.mask) so that neither a value outside strings (a
// number) nor the quote in a "not JSON" error holds a secret. For output:
// json each decoded string is masked too, since a secret written with JSON
// escapes (\u0073…) only reads as itself once decoded.
func (u *unit) output(text string) (any, error) {
	if !u.step.OutputJSON {
		return text, nil
	}
	v, err := parseJSONOutput(text, u.step.Kind == flowspec.KindLLM)
	if err != nil {
		return nil, err
	}
	return u.value(v), nil
}

// executorFor is the executor of a step: Config.Executors, or the
// built-in ones.
func (x *execution) executorFor(s *flowspec.Step) (work.Executor, error) {
	if s.Kind == flowspec.KindFlow {
		return flowExecutor{x}, nil
	}
	if x.e.cfg.Executors != nil {
		return x.e.cfg.Executors(s)
	}
	return executors.For(s)
}

func (u *unit) log(text string) {
	now := time.Now().UTC()
	var lines []LogLine
	// Masked before it is split, so a multi-line secret is masked whole.
	for ln := range strings.SplitSeq(strings.TrimRight(u.red.str(text), "\n"), "\n") {
		lines = append(lines, LogLine{Time: now, Step: u.step.ID, Item: u.item, Text: ln})
	}
	u.x.appendLog(lines...)
}

// noteMasked tells, in the unit's log, that what it recorded has secrets
// masked (the next step receives *** there too), and returns whether so.
func (u *unit) noteMasked() bool {
	if u.masked {
		u.log("secret values in its output or error were replaced by *** (later steps receive them masked too)")
	}
	return u.masked
}

// artifact names a per-step file, per item inside a foreach.
func (u *unit) artifact(base, ext string) string {
	if u.item != nil {
		return fmt.Sprintf("%s-%d%s", base, *u.item, ext)
	}
	return base + ext
}

// execStep runs a step to a result and records it; nil means the run was
// stopped before the step finished (nothing is recorded: it runs again).
// sl is the slot a plain step runs in (the caller frees it once the result
// is recorded); a foreach step has none (nil) and takes one per item.
func (x *execution) execStep(ctx context.Context, s *flowspec.Step, sc *flowspec.Scope, sl *slot) *StepResult {
	start := time.Now().UTC()
	ex, err := x.executorFor(s)
	if err != nil {
		return x.save(x.failed(s, start, 0, err))
	}
	env, red, err := x.secrets(s)
	if err != nil {
		return x.save(x.failed(s, start, 0, err))
	}
	var r *StepResult
	if s.Foreach != nil {
		r = x.execForeach(ctx, s, sc, ex, env, red, start)
	} else {
		u := &unit{x: x, step: s, scope: sc, env: env, red: red, slot: sl}
		res, attempts, err := x.runUnit(ctx, ex, u)
		if errors.Is(err, errAgain) {
			return nil // the driver tries it again (see Tries)
		}
		if ctx.Err() != nil || heldByBudget(err) {
			// Stopped (or held back by the budget): no record, but what its
			// attempts spent stays counted.
			before, _ := x.earlier(s.ID)
			x.keepSpend(s.ID, stoppedSpend(res, before))
			return nil
		}
		if err != nil {
			r = x.failed(s, start, attempts, u.maskErr(err))
			spent(r, res)
			if r.Model == "" {
				r.Model, r.Alias = x.triedModel(s)
			}
		} else {
			end := time.Now().UTC()
			r = &StepResult{ID: s.ID, Kind: s.Kind, Status: StepCompleted, Attempts: attempts,
				Output: res.Output, StartedAt: &start, EndedAt: &end,
				DurationMS: end.Sub(start).Milliseconds(), Fingerprint: x.fps[s.ID]}
			fill(r, res)
			if res.Cached != nil {
				r.Why = cachedWhy(res.Cached, x.reasons[s.ID])
			}
		}
		r.Masked = u.noteMasked()
	}
	if r == nil {
		return nil
	}
	return x.save(r)
}

// triedModel is the model an llm step that failed before any model
// answered was to call (its list, for a list of models), so its record
// says which, as a completed step's does: as the run's registry resolves
// it, with the name the flow gave when that is an alias.
func (x *execution) triedModel(s *flowspec.Step) (model, alias string) {
	if s.LLM == nil {
		return "", ""
	}
	declared := s.LLM.Models()
	resolved := make([]string, len(declared))
	for i, m := range declared {
		resolved[i] = m
		if x.meta.Registry == nil {
			continue
		}
		if res, err := x.meta.Registry.Resolve(m, nil); err == nil {
			resolved[i] = res.Model
		}
	}
	model = strings.Join(resolved, ", ")
	if len(declared) == 1 && declared[0] != model {
		alias = declared[0]
	}
	return model, alias
}

func fill(r *StepResult, res *unitResult) {
	spent(r, res)
	if res.Wait != nil {
		r.Status = StepWaiting
		r.Wait = res.Wait
		r.Output = nil
	}
}

// spent copies what a step's attempts called and paid for into its record;
// res is nil when nothing ran.
func spent(r *StepResult, res *unitResult) {
	if res == nil {
		return
	}
	r.Model, r.Alias, r.Credential, r.Mock = res.Model, res.Alias, res.Credential, res.Mock
	r.Usage, r.CostUSD, r.AttemptsDetail, r.Turns = res.Usage, res.Cost, res.Tries, res.Turns
	r.ChildRun = res.Child
}

// save records a step result. A record that cannot be written (a full
// disk) is not the step's failure: the run stops, interrupted, and nil says
// the step has no record, so resume runs it again; what it spent is kept.
func (x *execution) save(r *StepResult) *StepResult {
	if r.Why == nil {
		r.Why = x.reasons[r.ID]
	}
	if s := x.g.steps[r.ID]; r.Status == StepFailed && s != nil && s.ContinueOnError {
		r.Continued = true
	}
	if sp, ok := x.earlier(r.ID); ok && !r.Reused {
		foldEarlier(sp, &r.Attempts, r.Error, r.DurationMS, &r.Usage, &r.CostUSD, &r.AttemptsDetail)
	}
	if !r.Reused {
		x.recordedSpend(x.g.steps[r.ID], nil, &r.Usage, &r.CostUSD)
	}
	hook("step:before-record", "")
	if err := x.st.SaveStep(x.sc, x.meta.ID, r); err != nil {
		if !r.Reused {
			x.keepSpend(r.ID, spendOf(r.Attempts, r.Error, r.DurationMS, r.Usage, r.CostUSD, r.AttemptsDetail))
		}
		x.storeFailed(fmt.Errorf("the record of step %s could not be written: %w", r.ID, err))
		return nil
	}
	hook("step:after-record", "")
	return r
}

// secrets reads the secrets a run: step asks for.
func (x *execution) secrets(s *flowspec.Step) ([]string, *redactor, error) {
	if s.Checkpoint == nil || len(s.Checkpoint.Secrets) == 0 {
		return nil, x.baseRedactor(), nil
	}
	env, vals, err := x.secretEnv(s.Checkpoint.Secrets, s.ID)
	if err != nil {
		return nil, nil, err
	}
	return env, newRedactor(append(slices.Clip(x.e.cfg.Mask), vals...)), nil
}

// secretEnv reads the secrets named, as KEY=value and the values to mask;
// a key too short to be masked is told in the log, under step.
func (x *execution) secretEnv(names []string, step string) (env, vals []string, err error) {
	if x.e.cfg.Secrets == nil {
		return nil, nil, fmt.Errorf("it needs the secret %q but no secret store is available", names[0])
	}
	for _, name := range names {
		kv, err := x.e.cfg.Secrets.Get(name)
		if err != nil {
			return nil, nil, runstore.Advise(fmt.Errorf("cannot read the secret %q: %w", name, err), runstore.Remedy{Do: runstore.RemedySetSecret, Name: name})
		}
		for _, k := range unmaskable(kv) {
			x.appendLog(LogLine{Time: time.Now().UTC(), Step: step,
				Text: fmt.Sprintf("secret %q key %s is shorter than %d characters, too short to be masked: wherever it appears it is recorded as is", name, k, keyring.MinMaskedLen)})
		}
		for k, v := range kv {
			env = append(env, k+"="+v)
			vals = append(vals, v)
		}
	}
	return env, vals, nil
}

// baseRedactor masks what every step of the run masks (Config.Mask); it is
// made once per go at the run.
func (x *execution) baseRedactor() *redactor {
	x.baseRedOnce.Do(func() { x.baseRed = newRedactor(x.e.cfg.Mask) })
	return x.baseRed
}

// runUnit executes a unit with the step's timeout and retries. The result,
// returned on failure too (nil only when nothing ran), carries the usage
// and cost of every attempt and, after more than one, each attempt.
func (x *execution) runUnit(ctx context.Context, ex work.Executor, u *unit) (*unitResult, int, error) {
	attempts := max(1, u.step.Retry.Attempts)
	var sum *unitResult
	first := 1
	if p := x.prior; p != nil && p.Attempts > 0 {
		// A driver's earlier attempts at the unit (see Tries).
		sum, first = p.Sum, p.Attempts+1
	}
	for a := first; ; a++ {
		u.masked = false
		actx, cancel := ctx, context.CancelFunc(func() {})
		if u.step.Timeout > 0 && u.step.Kind != flowspec.KindWait {
			actx, cancel = context.WithTimeout(ctx, u.step.Timeout)
		}
		t0 := time.Now()
		res, err := ex.Execute(actx, u.work(), u)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			return addAttempt(sum, res, a, time.Since(t0), nil, u.red), a, nil
		}
		if !timedOut && ctx.Err() == nil && stoppedLikeTheRun(err) {
			// The signal that stops the run may have reached the command
			// first: give the run's context a moment to end before calling
			// this a failure (or a reason to retry).
			t := time.NewTimer(runSignalGrace)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if ctx.Err() != nil || heldByBudget(err) {
			if res != nil {
				// Stopped after paying for calls (an llm step asking
				// again): what they spent is kept.
				sum = addAttempt(sum, res, a, time.Since(t0), err, u.red)
			}
			if ctx.Err() == nil {
				return sum, a, err
			}
			return sum, a, ctx.Err()
		}
		if timedOut {
			err = fmt.Errorf("timed out after %s (its processes were killed): %w", humantime.Duration(u.step.Timeout), err)
		}
		sum = addAttempt(sum, res, a, time.Since(t0), err, u.red)
		// Trying again cannot fix a missing key or an unknown model.
		if a >= attempts || errors.Is(err, providers.ErrPermanent) {
			if a == 1 {
				sum.Tries = nil // the step's own fields say it all
			}
			return sum, a, err
		}
		if x.driven {
			// The driver waits and tries again (a Temporal activity's
			// retry policy), carrying what this attempt spent.
			delay := drivenBackoff(u.step.Retry.Backoff, a)
			x.again = &Tries{Attempts: a, Sum: sum}
			x.emit(Event{Type: EventStepRetrying, Step: u.step.ID, Item: u.item, Attempt: a + 1, Error: u.mask(err.Error()), Delay: delay})
			u.log(fmt.Sprintf("attempt %d failed, retrying in %s: %s", a, humantime.Duration(delay), err))
			return sum, a, errAgain
		}
		delay := backoff(u.step.Retry.Backoff, a)
		x.emit(Event{Type: EventStepRetrying, Step: u.step.ID, Item: u.item, Attempt: a + 1, Error: u.mask(err.Error()), Delay: delay})
		u.log(fmt.Sprintf("attempt %d failed, retrying in %s: %s", a, humantime.Duration(delay), err))
		// Waiting to retry is not work: another unit may use the slot.
		u.slot.release()
		select {
		case <-ctx.Done():
			return sum, a, ctx.Err()
		case <-time.After(delay):
		}
		if err := u.slot.take(ctx); err != nil {
			return sum, a, err
		}
	}
}

// addAttempt folds attempt a (its result, nil when it spent nothing, and
// its error) into the unit's running result: the last attempt's output and
// model, the sum of every attempt's usage and cost. A first attempt that
// succeeds costs nothing more than returning its result.
func addAttempt(sum, res *unitResult, a int, took time.Duration, err error, red *redactor) *unitResult {
	if a == 1 && err == nil {
		return res
	}
	try := Attempt{Attempt: a, DurationMS: took.Milliseconds()}
	if err != nil {
		msg := red.str(err.Error())
		try.Error = &msg
	}
	if res == nil {
		res = &unitResult{}
	}
	try.Usage, try.CostUSD, try.Turns = res.Usage, res.Cost, res.Turns
	if sum != nil {
		res.Usage = sum.Usage.Add(res.Usage)
		res.Cost = providers.AddCost(sum.Cost, res.Cost)
		res.Tries = sum.Tries
		if res.Model == "" {
			res.Model, res.Alias, res.Credential, res.Mock = sum.Model, sum.Alias, sum.Credential, sum.Mock
		}
	}
	res.Tries = append(res.Tries, try)
	if err != nil {
		res.Output = nil
	}
	return res
}

// runUnitSafe is runUnit for a goroutine of its own: a panic becomes the
// unit's error.
func (x *execution) runUnitSafe(ctx context.Context, ex work.Executor, u *unit) (res *unitResult, attempts int, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("internal error while running it (please report this): %v", p)
		}
	}()
	return x.runUnit(ctx, ex, u)
}

// backoff is drivenBackoff's base·2^(attempt-1) capped at 5 minutes,
// jittered to 50–150% so retries of parallel steps spread out.
func backoff(base time.Duration, attempt int) time.Duration {
	return time.Duration(float64(drivenBackoff(base, attempt)) * (0.5 + rand.Float64()))
}

// execForeach runs every item not done yet, each its own record.
func (x *execution) execForeach(ctx context.Context, s *flowspec.Step, sc *flowspec.Scope, ex work.Executor, env []string, red *redactor, start time.Time) *StepResult {
	fg, r := x.prepareForeach(s, sc, ex, env, red, start)
	if fg == nil {
		return r
	}
	var wg sync.WaitGroup
	// Items start in order, each as soon as the run has a free slot; the
	// step itself holds none while it waits (see slots).
	for i := range fg.list {
		if fg.items[i] != nil {
			continue
		}
		sl, err := x.slots.take(ctx)
		if err != nil {
			break
		}
		if x.holdsModel(s) {
			sl.release()
			fg.held.Store(true)
			break
		}
		wg.Go(func() { fg.runItem(ctx, i, sl) })
	}
	wg.Wait()
	if ctx.Err() != nil || fg.held.Load() {
		return nil // its items not done run when the run is continued
	}
	return fg.finish(start)
}

// foreachGo is one go at a foreach step: its list, the items already
// done, and what running the others needs. The local run loop runs its
// items in goroutines; a driver (Temporal) runs each in an activity.
type foreachGo struct {
	x     *execution
	s     *flowspec.Step
	sc    *flowspec.Scope
	ex    work.Executor
	env   []string
	red   *redactor
	list  []any
	done  map[int]*ItemResult // the item records found as the go began
	keys  []string
	src   itemSource
	picks []itemPick
	held  atomic.Bool // an item was held back by the budget

	mu    sync.Mutex
	items []*ItemResult // nil: the item is not done
	count int
}

// prepareForeach evaluates a foreach step's list and finds the items
// already done (its own records, or those a replay reuses, which it
// records). A nil foreachGo means the step ends now with r (nil: stopped,
// a record could not be written).
func (x *execution) prepareForeach(s *flowspec.Step, sc *flowspec.Scope, ex work.Executor, env []string, red *redactor, start time.Time) (*foreachGo, *StepResult) {
	if s.Kind == flowspec.KindWait {
		return nil, x.failed(s, start, 0, errors.New("a wait step cannot use foreach"))
	}
	v, err := s.Foreach.Eval(sc)
	if err != nil {
		return nil, x.failed(s, start, 0, fmt.Errorf("its foreach could not be evaluated: %w", err))
	}
	list, ok := asList(v)
	if !ok {
		return nil, x.failed(s, start, 0, fmt.Errorf("its foreach must yield a list, not %T", v))
	}
	done, err := x.st.LoadItems(x.sc, x.meta.ID, s.ID)
	if err != nil {
		return nil, x.failed(s, start, 0, err)
	}
	keys := itemKeys(s, sc, x.itemModel(s), list)
	items := make([]*ItemResult, len(list))
	count := 0
	for i := range list {
		// Its own records first: a resume (of a replay too) keeps them,
		// unless what the item is made from changed since (retry --flow
		// edited the step, or its value moved): then it runs again.
		if it := done[i]; it != nil && it.Status == StepCompleted && (it.Key == "" || keys[i] == "" || it.Key == keys[i]) {
			items[i] = it
			count++
		}
	}
	src, fromSrc := x.itemsFrom[s.ID]
	var picks []itemPick
	if fromSrc {
		if src.redo >= len(list) {
			return nil, x.failed(s, start, 0, fmt.Errorf("item %s is to run again, but its foreach yields %s", src.from, itemRange(s.ID, len(list))))
		}
		// A record of the source that cannot be read only means that
		// item runs again.
		prev, err := x.st.LoadItems(x.sc, src.run, s.ID)
		if err != nil {
			x.appendLog(LogLine{Time: time.Now().UTC(), Step: s.ID,
				Text: "some item records of run " + src.run + " cannot be read, so those items run again: " + err.Error()})
		}
		picks = pickItems(keys, prev, src.byIndex, src.redo)
		explainMisses(picks, prev, damagedItems(err), src.whole)
		for i, p := range picks {
			if items[i] != nil || p.src == nil {
				continue
			}
			// Copied: an item record is small, and resume must find it here.
			it := *p.src
			it.Reused, it.ReusedFrom, it.ReusedIndex = true, src.run, nil
			if it.Index != i {
				was := it.Index
				it.ReusedIndex = &was
			}
			// The source's own reason (or an older kitaru's sentence) is
			// about the source's replay, not this one.
			it.Index, it.Key, it.Why, it.Reason = i, keys[i], p.reason(src, i), ""
			if err := x.st.SaveItem(x.sc, x.meta.ID, s.ID, &it); err != nil {
				x.storeFailed(fmt.Errorf("the record of item %d of step %s could not be written: %w", i, s.ID, err))
				return nil, nil
			}
			items[i] = &it
			count++
		}
	}
	return &foreachGo{x: x, s: s, sc: sc, ex: ex, env: env, red: red, list: list, done: done, keys: keys,
		src: src, picks: picks, items: items, count: count}, nil
}

// runItem runs item i in slot sl (released by the time it returns) and
// records it; an item stopped, held by the budget, or left for the driver
// to try again (errAgain) has no record.
func (fg *foreachGo) runItem(ctx context.Context, i int, sl *slot) {
	x, s := fg.x, fg.s
	defer sl.release()
	idx := i
	isc := *fg.sc
	isc.Item, isc.Index = fg.list[i], idx
	u := &unit{x: x, step: s, scope: &isc, item: &idx, env: fg.env, red: fg.red, slot: sl}
	t0 := time.Now()
	res, attempts, err := x.runUnitSafe(ctx, fg.ex, u)
	// Its work done, the item gives its slot to the next one while
	// its record is written: a model call does not wait for the
	// disk. At most N items are between the two at once, so a
	// crash loses no more unrecorded work than N more units; the
	// step ends, and item_finished is told, only once the item's
	// record is durable.
	x.recording <- struct{}{}
	rec := x.recording.taken()
	defer rec.release()
	sl.release()
	key := itemKey(s.ID, idx)
	// What earlier goes at the item spent: kept in the meta when
	// they left no record (stopped, or it could not be written),
	// else in its failed record, which this one replaces.
	before, kept := x.earlier(key)
	// A waiting item's go goes on in this one (as a step's that asked
	// does): it is no attempt of its own.
	if prev := fg.done[idx]; !kept && prev != nil && prev.Status != StepCompleted && prev.Status != StepWaiting {
		before = spendOf(prev.Attempts, prev.Error, prev.DurationMS, prev.Usage, prev.CostUSD, prev.AttemptsDetail)
	}
	if errors.Is(err, errAgain) {
		return // the driver tries it again, carrying what it spent
	}
	if ctx.Err() != nil || heldByBudget(err) {
		if ctx.Err() == nil {
			fg.held.Store(true)
		}
		x.keepSpend(key, stoppedSpend(res, before))
		return
	}
	it := &ItemResult{Index: idx, Attempts: attempts, DurationMS: time.Since(t0).Milliseconds(), Key: fg.keys[idx]}
	if fg.picks != nil {
		it.Why = fg.picks[idx].reason(fg.src, idx)
	}
	if res != nil {
		it.Usage, it.CostUSD, it.AttemptsDetail, it.Turns = res.Usage, res.Cost, res.Tries, res.Turns
		it.Model, it.Alias, it.Mock = res.Model, res.Alias, res.Mock
		it.ChildRun = res.Child
	}
	if err != nil && it.Model == "" {
		it.Model, it.Alias = x.triedModel(s)
	}
	switch {
	case err != nil:
		msg := u.mask(err.Error())
		it.Status, it.Error, it.Remedy = StepFailed, &msg, runstore.RemedyOf(err)
	case res.Wait != nil:
		// Its loop asks a person: the item waits, and the step with it
		// once the others are done.
		it.Status, it.Wait = StepWaiting, itemWait(res.Wait, idx)
	default:
		it.Status, it.Output = StepCompleted, res.Output
		if res.Cached != nil {
			it.Why = cachedWhy(res.Cached, it.Why)
		}
	}
	it.Masked = u.noteMasked()
	foldEarlier(before, &it.Attempts, it.Error, it.DurationMS, &it.Usage, &it.CostUSD, &it.AttemptsDetail)
	x.recordedSpend(s, &idx, &it.Usage, &it.CostUSD)
	if err := x.st.SaveItem(x.sc, x.meta.ID, s.ID, it); err != nil {
		// Not the item's failure: the run stops and resume runs it again.
		x.keepSpend(key, spendOf(it.Attempts, it.Error, it.DurationMS, it.Usage, it.CostUSD, it.AttemptsDetail))
		x.storeFailed(fmt.Errorf("the record of item %d of step %s could not be written: %w", idx, s.ID, err))
		return
	}
	if kept {
		x.forgetSpend(key)
	}
	// Told under the lock that counts, so the journal's Done only
	// grows though items finish together.
	fg.mu.Lock()
	fg.items[idx] = it
	if it.Status == StepWaiting {
		fg.mu.Unlock()
		return // not finished: it goes on once answered
	}
	fg.count++
	if x.driven {
		// The other items run in other processes: the store counts them.
		if recs, err := x.st.LoadItems(x.sc, x.meta.ID, s.ID); err == nil {
			fg.count = len(recs)
		}
	}
	fin := Event{Type: EventItemFinished, Step: s.ID, Item: &idx, Done: fg.count, Total: len(fg.list)}
	if it.Error != nil {
		// A follower counts failed items apart from done ones.
		fin.Error = *it.Error
	}
	x.emit(fin)
	fg.mu.Unlock()
}

// finish is the step's result once every item is done: completed with
// their outputs, or failed with the first item that failed.
func (fg *foreachGo) finish(start time.Time) *StepResult {
	x, s := fg.x, fg.s
	end := time.Now().UTC()
	r := &StepResult{ID: s.ID, Kind: s.Kind, Status: StepCompleted, StartedAt: &start, EndedAt: &end,
		DurationMS: end.Sub(start).Milliseconds(), Fingerprint: x.fps[s.ID]}
	outs := make([]any, len(fg.list))
	var asked []runstore.ToolQuestion
	for i, it := range fg.items {
		if i == 0 || it.Model == r.Model && it.Alias == r.Alias && it.Mock == r.Mock {
			// The step's model is its items' when they all had the same.
			r.Model, r.Alias, r.Mock = it.Model, it.Alias, it.Mock
		} else {
			r.Model, r.Alias, r.Mock = "", "", false
		}
		r.Items = append(r.Items, *it)
		r.Attempts = max(r.Attempts, it.Attempts)
		r.Masked = r.Masked || it.Masked
		if !it.Reused {
			// A reused item was paid for by the run that made it.
			r.Usage = r.Usage.Add(it.Usage)
			r.CostUSD = providers.AddCost(r.CostUSD, it.CostUSD)
		}
		if it.Status == StepWaiting && it.Wait != nil {
			asked = append(asked, it.Wait.Calls...)
			outs[i] = nil
			continue
		}
		if it.Status != StepCompleted && r.Status == StepCompleted {
			msg := fmt.Sprintf("item %d failed", i)
			if it.Error != nil {
				msg += ": " + *it.Error
			}
			r.Status, r.Error, r.Remedy = StepFailed, &msg, it.Remedy
		}
		outs[i] = it.Output
	}
	if r.Status == StepCompleted && len(asked) > 0 {
		// Every other item done: the step waits for the answers, asked
		// in the items' order.
		q := asked[0]
		r.Status, r.Wait = StepWaiting, &WaitInfo{Question: q.Question, Schema: q.Schema, Deadline: q.Deadline, Calls: asked}
	}
	if r.Status == StepCompleted {
		r.Output = outs
	}
	return r
}

// itemWait is the questions of item idx's loop, each naming the item.
func itemWait(w *WaitInfo, idx int) *WaitInfo {
	out := *w
	out.Calls = make([]runstore.ToolQuestion, len(w.Calls))
	for i, q := range w.Calls {
		q.Item = &idx
		out.Calls[i] = q
	}
	return &out
}

func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// parseJSONOutput implements `output: json`. A model's answer may be in a
// ```json fence, as models often write JSON.
func parseJSONOutput(text string, answer bool) (any, error) {
	body := text
	if answer {
		body = executors.Unfenced(text)
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("output: json, but the output is not JSON (%v): %q", err, textcut.Runes(text, 200))
	}
	return v, nil
}
