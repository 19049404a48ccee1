package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// remedyText words a way out (what the engine offers as data) as the
// command to run, as a clause that follows the error it is about.
// A kind this kitaru does not know (a newer one's record) says nothing.
func remedyText(r runstore.Remedy) string {
	switch r.Do {
	case runstore.RemedyListRuns:
		return "see `kitaru executions list`"
	case runstore.RemedyWaitOrCancel:
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
	return withRemedy(msg, runstore.RemedyOf(err))
}

// selectorFlags are the flags of kitaru replay that take a step selector.
var selectorFlags = map[engine.SelectorRole]string{engine.SelectFrom: "--from", engine.SelectOverride: "--override"}

// stepChoiceText words a selector that picks no single step, naming the
// flag it was given to.
func stepChoiceText(e *engine.StepChoiceError) string {
	flag := selectorFlags[e.Role]
	if flag == "" {
		flag = string(e.Role)
	}
	switch {
	case e.Twice:
		return fmt.Sprintf("%s: step %s is overridden twice", flag, e.Matches[0])
	case len(e.Matches) > 1:
		return fmt.Sprintf("%s %q is ambiguous: it could be %s", flag, e.Sel, strings.Join(e.Matches, ", "))
	}
	return fmt.Sprintf("%s %q: the flow has no such step; its steps are: %s", flag, e.Sel, strings.Join(e.Steps, ", "))
}
