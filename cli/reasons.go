package cli

import (
	"fmt"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

// The words for the reasons and endings the engine records as codes. A
// record written by an older kitaru has a sentence instead, shown as is.

// stepReason says why a step of a replay ran or was reused, or why it was
// skipped; for a foreach step it adds what its items did. brief leaves out
// the details of what changed in a step --from reused (the model names),
// for a line that must stay short.
func stepReason(s *engine.StepResult, brief bool) string {
	if s.Why == nil && s.Reason != "" {
		return s.Reason
	}
	if len(s.Items) == 0 && s.Why != nil {
		return reasonText(*s.Why, brief) // the common case, for every step a replay reused
	}
	parts := []string{}
	if s.Why != nil {
		parts = append(parts, reasonText(*s.Why, brief))
	}
	if sum := itemsSummary(s.Items); sum != "" {
		parts = append(parts, sum)
	}
	return strings.Join(parts, "; ")
}

// reasonText words a step's reason.
func reasonText(r engine.Reason, brief bool) string {
	switch r.Code {
	case "":
		return r.Text
	case runstore.ReasonFrom:
		return "--from " + r.From
	case runstore.ReasonDownstreamOfFrom:
		return "downstream of --from " + r.From
	case runstore.ReasonDownstreamOverride:
		return "downstream of the overridden step " + r.Step
	case runstore.ReasonDownstream:
		return "downstream of " + r.Step
	case runstore.ReasonNoRecord:
		return "no record of it in the source run (a new step, or one that never ran)"
	case runstore.ReasonNewStep:
		return "a new step: the source run had none of this name"
	case runstore.ReasonNotRun:
		return "no record of it in the source run: it did not run there, or was stopped"
	case runstore.ReasonUnfinished:
		return fmt.Sprintf("it did not complete in the source run (%s)", r.Status)
	case runstore.ReasonFingerprintChanged:
		return "fingerprint changed: its definition or the inputs it reads differ"
	case runstore.ReasonModelChanged:
		return "model changed: " + modelChangeText(r.Model)
	case runstore.ReasonOverridden:
		return "overridden"
	case runstore.ReasonRecordMissing:
		return "its record in run " + r.Run + " is missing, so it runs again"
	case runstore.ReasonHomeGone:
		return "run " + r.Run + ", which held its record, is gone, so it runs again"
	case runstore.ReasonUnchanged:
		return "reused from " + r.Run + ": fingerprint unchanged"
	case runstore.ReasonNotDownstream:
		s := "reused from " + r.Run + ": not downstream of --from " + r.From
		if r.Though != nil {
			s += ", though " + changeText(*r.Though, brief)
		}
		return s
	case runstore.ReasonCached:
		s := cachedText(r)
		if r.Though != nil {
			s += "; it ran again: " + reasonText(*r.Though, brief)
		}
		return s
	case runstore.ReasonDefinitionChanged:
		return "definition changed in the edited flow"
	case runstore.ReasonAddedStep:
		return "a new step, added in the edited flow"
	case runstore.ReasonDependencySkipped:
		return "dependency " + r.Step + " was skipped"
	case runstore.ReasonDependencyFailed:
		// Its if (none, or one without failure() or always()) implied
		// success().
		return r.Step + " failed"
	case runstore.ReasonIfFalse:
		return "`if` was false"
	case runstore.ReasonRunCancelled:
		return "the run was cancelled before it finished"
	case runstore.ReasonHeldByBudget:
		return "held back: the run's budget is spent; resume it with a larger one"
	}
	return string(r.Code) // a code of a newer kitaru
}

// changeText words what changed in a step --from reused.
func changeText(r engine.Reason, brief bool) string {
	switch r.Code {
	case "":
		return r.Text
	case runstore.ReasonModelChanged:
		if brief {
			return "its model changed"
		}
		return "its model changed (" + modelChangeText(r.Model) + ")"
	case runstore.ReasonDependencyChanged:
		if r.Step == "" {
			return "a step it depends on changed"
		}
		return "it depends on " + r.Step + ", which changed"
	case runstore.ReasonInputChanged:
		return "an input it reads changed"
	case runstore.ReasonDefinitionChanged:
		return "its definition changed in the edited flow"
	case runstore.ReasonFingerprintChanged:
		return "its definition or the inputs it reads changed"
	}
	return string(r.Code)
}

// modelChangeText: "alias fast now resolves to openai/b, was openai/a", or
// "now openai/s (alias slow), was openai/a (alias fast)" when the alias
// that names it changed too, each side saying "from KITARU_DEFAULT_MODEL"
// when the step, naming no model, took it from there; a model at an
// alias's own server reads "openai/llama at http://gpu:8000/v1".
func modelChangeText(m *engine.ModelChange) string {
	if m == nil {
		return "its model resolves to another one now"
	}
	at := func(model, base string) string {
		if base == "" {
			return model
		}
		return model + " at " + base
	}
	was, now := at(m.Was, m.WasBaseURL), at(m.Now, m.NowBaseURL)
	if m.NowAlias != "" && m.NowAlias == m.WasAlias {
		return fmt.Sprintf("alias %s now resolves to %s, was %s", m.NowAlias, now, was)
	}
	named := func(model, alias string, fromEnv bool) string {
		var how []string
		if alias != "" {
			how = append(how, "alias "+alias)
		}
		if fromEnv {
			how = append(how, "from "+providers.EnvDefaultModel)
		}
		if len(how) == 0 {
			return model
		}
		return model + " (" + strings.Join(how, ", ") + ")"
	}
	return fmt.Sprintf("now %s, was %s", named(now, m.NowAlias, m.NowDefault), named(was, m.WasAlias, m.WasDefault))
}

// movedModel is how the model of a step --from reused changed ("" when
// it did not): the detail a brief reason leaves out.
func movedModel(s *engine.StepResult) string {
	if s.Why == nil || s.Why.Though == nil || s.Why.Though.Code != runstore.ReasonModelChanged {
		return ""
	}
	return modelChangeText(s.Why.Though.Model)
}

// itemReason says why an item of a replay ran or was reused.
func itemReason(it *engine.ItemResult) string {
	if it.Why == nil {
		return it.Reason
	}
	r := *it.Why
	switch r.Code {
	case runstore.ReasonCached:
		s := cachedText(r)
		if r.Though != nil {
			s += "; it ran again: " + itemReason(&engine.ItemResult{Why: r.Though})
		}
		return s
	case runstore.ReasonMatched:
		if r.Item != nil {
			return fmt.Sprintf("reused from %s (its item %d)", r.Run, *r.Item)
		}
		return "reused from " + r.Run
	case runstore.ReasonNoMatch:
		return "new or changed: no finished item of " + r.Run + " has its value and inputs"
	case runstore.ReasonUnfinished:
		return "it did not complete in " + r.Run
	case runstore.ReasonNotRun:
		return "no record of it in " + r.Run + ", which stopped before the step finished"
	case runstore.ReasonUnreadable:
		return "its record in " + r.Run + " cannot be read"
	}
	return reasonText(r, false)
}

// itemsSummary is what a foreach step's items did in a replay, from their
// reasons: "items: 3 reused from kr-x, 1 ran (1 new or changed)"; "" when
// they have none (not a replay, or an older kitaru's record).
func itemsSummary(items []engine.ItemResult) (s string) {
	src, reused, ran, cached := "", 0, 0, 0
	counts := map[runstore.ReasonCode]int{}
	for _, it := range items {
		why := it.Why
		if why != nil && why.Code == runstore.ReasonCached {
			// Its answer came from the cache; Though is why it ran.
			cached++
			why = why.Though
		}
		if why == nil {
			continue
		}
		if src == "" {
			src = why.Run
		}
		if it.Reused {
			reused++
			continue
		}
		ran++
		counts[why.Code]++
	}
	if reused+ran == 0 {
		if cached > 0 {
			return fmt.Sprintf("items: %d answered from the cache", cached)
		}
		return ""
	}
	defer func() {
		if cached > 0 {
			s = fmt.Sprintf("%s; %d answered from the cache", s, cached)
		}
	}()
	s = fmt.Sprintf("items: %d reused, %d ran", reused, ran)
	if src != "" {
		s = fmt.Sprintf("items: %d reused from %s, %d ran", reused, src, ran)
	}
	var parts []string
	if n := counts[runstore.ReasonNoMatch]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d new or changed", n))
	}
	if n := counts[runstore.ReasonUnfinished] + counts[runstore.ReasonNotRun]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unfinished in %s", n, src))
	}
	if n := counts[runstore.ReasonUnreadable]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unreadable in %s", n, src))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// continuedText says which failures continue_on_error let pass: "1 step
// failed (continued): fetch"; "" when none did.
func continuedText(e *engine.Ending) string {
	if e == nil || len(e.Continued) == 0 {
		return ""
	}
	what := "1 step"
	if n := len(e.Continued); n > 1 {
		what = fmt.Sprintf("%d steps", n)
	}
	return what + " failed (continued): " + strings.Join(e.Continued, ", ")
}

// runError says what ended a run, in a sentence: from its ending and the
// error beneath it, or an older kitaru's sentence; "" when nothing went
// wrong.
func runError(r *engine.Run) string {
	msg := ""
	if r.Error != nil {
		msg = *r.Error
	}
	if r.Ending == nil {
		return msg
	}
	with := func(s string) string {
		if msg == "" {
			return s
		}
		return s + ": " + msg
	}
	switch e := r.Ending; e.Code {
	case runstore.EndCompleted, runstore.EndWaiting:
		return msg
	case runstore.EndStepFailed:
		return with("step " + e.Step + " failed")
	case runstore.EndCancelled:
		return "cancelled by `kitaru executions cancel`"
	case runstore.EndInterrupted:
		return "interrupted; `kitaru resume " + r.ID + "` continues it"
	case runstore.EndStoreFailed:
		if msg == "" {
			return "a record could not be written"
		}
		return withRemedy(msg, r.Remedy) // the store's error names the record
	case runstore.EndNeverReady:
		return "step " + e.Step + " never became ready (internal error)"
	case runstore.EndOutputFailed:
		return with("the flow's output")
	case runstore.EndAborted:
		return "aborted at the wait step " + e.Step
	case runstore.EndWaitExpired:
		return with("step " + e.Step + " failed")
	case runstore.EndBudgetExceeded:
		return withRemedy(budgetEndText(e.Budget), r.Remedy)
	case runstore.EndWorkflowFailed:
		// msg says how: "its workflow failed: …".
		return "on Temporal, " + orSaid(msg, "its workflow failed") + "; `kitaru retry " + r.ID + "` continues it"
	case runstore.EndWorkflowLost:
		return "on Temporal, " + orSaid(msg, "its workflow stopped") + "; `kitaru resume " + r.ID + "` continues it"
	}
	return with(string(r.Ending.Code))
}

// orSaid is msg, or def when msg is empty.
func orSaid(msg, def string) string {
	if msg == "" {
		return def
	}
	return msg
}

// recordForJSON is a run record as --json prints it: the record itself,
// with its reasons and its error also in words (reason, error), as the
// command-line contract has them. run is not changed.
func recordForJSON(run *engine.Run) *engine.Run {
	out := *run
	if msg := runError(run); msg != "" {
		out.Error = &msg
	}
	if run.Steps == nil {
		return &out // a list's summaries
	}
	out.Steps = make([]engine.StepResult, len(run.Steps))
	for i, s := range run.Steps {
		s.Reason = stepReason(&run.Steps[i], false)
		if len(s.Items) > 0 {
			s.Items = make([]engine.ItemResult, len(run.Steps[i].Items))
			for j, it := range run.Steps[i].Items {
				it.Reason = itemReason(&run.Steps[i].Items[j])
				s.Items[j] = it
			}
		}
		out.Steps[i] = s
	}
	return &out
}

// cachedText: "answer cached from kr-x", naming the step (and item) that
// made the call.
func cachedText(r engine.Reason) string {
	s := "answer cached from " + r.Run
	switch {
	case r.Step != "" && r.Item != nil:
		s += fmt.Sprintf(" (step %s, item %d)", r.Step, *r.Item)
	case r.Step != "":
		s += " (step " + r.Step + ")"
	}
	return s + ": no call made"
}
