package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/humantime"
)

// remedyText words a way out (what the engine offers as data) as the
// command to run, as a clause that follows the error it is about.
// A kind this kitaru does not know (a newer one's record) says nothing.
func remedyText(r runstore.Remedy) string {
	switch r.Do {
	case runstore.RemedyListRuns:
		return "see `kitaru executions list`"
	case runstore.RemedyWaitOrCancel:
		if os.Getenv(storeEnv) != "" {
			// A shared store's lease outlives a runner that died, until it
			// expires: say when trying again will work. The runner chose
			// its lease's time to live, which may not be this process's.
			return fmt.Sprintf("wait for it or `kitaru executions cancel %s`; if that process is gone, its lease runs out within the time to live its runner took (KITARU_LEASE_TTL there, %s unless set) and `kitaru resume %s` works then", r.Run, humantime.Duration(engine.DefaultLeaseTTL()), r.Run)
		}
		return fmt.Sprintf("wait for it or `kitaru executions cancel %s`", r.Run)
	case runstore.RemedyResume:
		return fmt.Sprintf("`kitaru resume %s` continues it", r.Run)
	case runstore.RemedyFreeSpace:
		return fmt.Sprintf("free some space, then `kitaru resume %s` continues the run", r.Run)
	case runstore.RemedyFixStore:
		return fmt.Sprintf("once the run's records can be written again (a read-only or failing disk?), `kitaru resume %s` continues the run", r.Run)
	case runstore.RemedyRetry:
		return fmt.Sprintf("`kitaru retry %s` runs its failed steps again", r.Run)
	case runstore.RemedyAskAgain:
		return fmt.Sprintf("ask again with `kitaru retry %s`", r.Run)
	case runstore.RemedyReplay:
		return fmt.Sprintf("`kitaru replay %s` makes a new run from it", r.Run)
	case runstore.RemedyReplayStep:
		return fmt.Sprintf("`kitaru replay %s --from %s` runs it again in a new run (or `kitaru retry %s`, if the run did not complete)", r.Run, r.Step, r.Run)
	case runstore.RemedyStopThenRetry:
		return fmt.Sprintf("stop it, then `kitaru retry %s`", r.Run)
	case runstore.RemedyQuoteAnswer:
		return `strings need quotes: --value '"text"'`
	case runstore.RemedyRegisterModel:
		return "register a model with `kitaru model register` (or set KITARU_LLM_MOCK_RESPONSE to try the flow offline)"
	case runstore.RemedySetSecret:
		return fmt.Sprintf("create it with `kitaru secrets set %s --KEY=VALUE`", r.Name)
	case runstore.RemedyRaiseBudget:
		return raiseBudgetText(r)
	case runstore.RemedyRunHere:
		return "run it on this machine (with " + temporalAddressEnv + " unset), or without the budget"
	case runstore.RemedyAnswerChild:
		return fmt.Sprintf("answer it with `kitaru input %s`, then `kitaru retry %s`", r.Run, r.Name)
	case runstore.RemedyReplayNewFlow:
		return fmt.Sprintf("bring it back, or `kitaru replay %s --flow FILE` with the flow file where it is now", r.Run)
	}
	return ""
}

// withRemedy is msg followed by the words of r, if it has any.
func withRemedy(msg string, r *runstore.Remedy) string {
	if r == nil {
		return msg
	}
	if t := remedyText(*r); t != "" {
		return msg + "; " + t
	}
	return msg
}

// explain is err's message for a person: the error, with what the engine
// states as data worded as the command line says it, then the way out it
// offers.
func explain(err error) string {
	msg := err.Error()
	var sc *engine.StepChoiceError
	if errors.As(err, &sc) {
		msg = strings.Replace(msg, sc.Error(), stepChoiceText(sc), 1)
	}
	var ic *engine.ItemChoiceError
	if errors.As(err, &ic) {
		msg = strings.Replace(msg, ic.Error(), itemChoiceText(ic), 1)
	}
	if hint := storeHint(err); hint != "" {
		msg += "\n" + hint
	}
	return withRemedy(msg, runstore.RemedyOf(err))
}

// selectorFlags are the flags of kitaru replay that take a step selector.
var selectorFlags = map[engine.SelectorRole]string{engine.SelectFrom: "--from", engine.SelectOverride: "--override"}

// stepChoiceText words a selector that picks no single step, naming the
// flag it was given to.
func stepChoiceText(e *engine.StepChoiceError) string {
	flag := selectorFlag(e.Role)
	switch {
	case e.Twice:
		return fmt.Sprintf("%s: step %s is overridden twice", flag, e.Matches[0])
	case len(e.Matches) > 1:
		return fmt.Sprintf("%s %q is ambiguous: it could be %s", flag, e.Sel, strings.Join(e.Matches, ", "))
	}
	return fmt.Sprintf("%s %q: the flow has no such step; its steps are: %s", flag, e.Sel, strings.Join(e.Steps, ", "))
}

// selectorFlag is the flag of kitaru replay that takes selectors of role.
func selectorFlag(role engine.SelectorRole) string {
	if flag := selectorFlags[role]; flag != "" {
		return flag
	}
	return string(role)
}

// itemChoiceText words an item selector that picks no item to run again,
// with what to write instead.
func itemChoiceText(e *engine.ItemChoiceError) string {
	flag, from, over := selectorFlag(e.Role), selectorFlag(engine.SelectFrom), selectorFlag(engine.SelectOverride)
	at := flag + " " + e.Sel
	// What any replay does anyway with an item the source has no record of.
	anyway := fmt.Sprintf("; a replay without %s runs every item run %s has no record of anyway", from, e.Run)
	switch e.Problem {
	case engine.ItemBadSelector:
		return fmt.Sprintf("%s %q: write STEP[N] with N an item's number from 0, e.g. %s %s[0]", flag, e.Sel, flag, e.Step)
	case engine.ItemNoForeach:
		return fmt.Sprintf("%s: step %s has no foreach, so it has no items; write %s %s to run it again", at, e.Step, from, e.Step)
	case engine.ItemSkipped:
		return fmt.Sprintf("%s: step %s was skipped in run %s, so it has no items; write %s %s to run it again", at, e.Step, e.Run, from, e.Step)
	case engine.ItemPastEnd:
		return fmt.Sprintf("%s: step %s had %s in run %s", at, e.Step, itemsText(e.Step, e.Items), e.Run)
	case engine.ItemUnrecorded:
		how := "it never ran there"
		switch {
		case e.Status != "":
			how = string(e.Status) + " there"
		case e.Items > 0:
			how = "it stopped part-way there"
		}
		if e.Items == 0 {
			return fmt.Sprintf("%s: run %s has no record of any item of step %s (%s), so no item can be picked; write %s %s to run them all%s",
				at, e.Run, e.Step, how, from, e.Step, anyway)
		}
		last := e.Items - 1
		return fmt.Sprintf("%s: step %s did not complete in run %s (%s), and its item records there end at %s[%d]; write %s '%s[N]' with N from 0 to %d to run one of those again, or %s %s to run them all%s",
			at, e.Step, e.Run, how, e.Step, last, from, e.Step, last, from, e.Step, anyway)
	case engine.ItemOverridden:
		return fmt.Sprintf("%s with %s %s: the override sets the whole output of step %s, so no item of it runs; "+
			"write %s alone to run item %d again, or %s %s alone to replace the output (the steps downstream of it run again)",
			at, over, e.Step, e.Step, at, e.Item, over, e.Step)
	case engine.ItemOverride:
		return fmt.Sprintf("%s: an override sets the whole output of a step, not one item; write %s %s=VALUE with the whole list, or %s %s to run item %d again",
			at, over, e.Step, from, e.Sel, e.Item)
	}
	return e.Error()
}

// itemsText says how many items a step has: "3 items (each[0] to each[2])".
func itemsText(step string, n int) string {
	if n == 0 {
		return "no items"
	}
	s := fmt.Sprintf("%d %s (%s[0]", n, plural(n, "item", "items"), step)
	if n > 1 {
		s += fmt.Sprintf(" to %s[%d]", step, n-1)
	}
	return s + ")"
}

// retryHint is the way on from a failed run. A plain retry runs the copy
// of the flow the run recorded, so when the run knows its flow file it
// also says how a fix made in that file is picked up.
func retryHint(run *engine.Run) string {
	s := fmt.Sprintf("fix the cause, then continue with `kitaru retry %s`", run.ID)
	f := run.FlowFile
	if f == "" || f == flowspec.StdinName || f == "-" {
		return s
	}
	f = nearPath(f)
	return s + fmt.Sprintf(" (if the fix is an edit to %s: `kitaru retry %s --flow %s`; a plain retry runs the run's own copy of the flow)", f, run.ID, shellQuote(f))
}

// nearPath is path relative to the current directory when it is under it,
// as a person would type it there.
func nearPath(path string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(path) {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return path
}
