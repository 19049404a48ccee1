package engine

import "fmt"

// ItemProblem is why an item selector (STEP[N]: item N of a foreach step)
// picks no item to run again.
type ItemProblem string

// The problems of item selectors.
const (
	// ItemBadSelector: Sel is not STEP[N] with N a number from 0; Step is
	// what comes before its "[".
	ItemBadSelector ItemProblem = "bad_selector"
	ItemNoForeach   ItemProblem = "no_foreach" // Step has no foreach, so no items
	ItemSkipped     ItemProblem = "skipped"    // Step was skipped in Run
	ItemPastEnd     ItemProblem = "past_end"   // Step completed in Run with Items items, N not among them
	// ItemUnrecorded: Step did not complete in Run (Status there, "" when
	// Run has no record of the step) and Run has no record of item N or
	// past it, so any replay runs it: Items is the number of the last item
	// it recorded plus one (0: none).
	ItemUnrecorded ItemProblem = "unrecorded"
	// ItemOverridden: Step's output is overridden too, which sets it whole,
	// so no item of it runs.
	ItemOverridden ItemProblem = "overridden"
	// ItemOverride: Sel was given to override (Role), which sets a step's
	// whole output, never one item's.
	ItemOverride ItemProblem = "override"
)

// ItemChoiceError is an item selector that picks no item to run again,
// as data: a front end words it with its own names for the selectors (a
// flag, a field) and says what to write instead.
type ItemChoiceError struct {
	Role    SelectorRole
	Sel     string // as given, or as the run records it ("each[2]")
	Step    string // the step it names
	Item    int    // N
	Problem ItemProblem
	Items   int        // ItemPastEnd, ItemUnrecorded (see there)
	Run     string     // the source run, for the problems found in it
	Status  StepStatus // ItemUnrecorded
}

func (e *ItemChoiceError) Error() string {
	at := fmt.Sprintf("%s %s", e.Role, e.Sel)
	switch e.Problem {
	case ItemBadSelector:
		return fmt.Sprintf("%s %q: write STEP[N] with N an item's number from 0", e.Role, e.Sel)
	case ItemNoForeach:
		return fmt.Sprintf("%s: step %s has no foreach, so it has no items", at, e.Step)
	case ItemSkipped:
		return fmt.Sprintf("%s: step %s was skipped in run %s, so it has no items", at, e.Step, e.Run)
	case ItemPastEnd:
		return fmt.Sprintf("%s: step %s had %d items in run %s", at, e.Step, e.Items, e.Run)
	case ItemUnrecorded:
		if e.Items == 0 {
			return fmt.Sprintf("%s: run %s has no record of any item of step %s, so no item can be picked", at, e.Run, e.Step)
		}
		return fmt.Sprintf("%s: step %s did not complete in run %s, and its item records there end at %s[%d]", at, e.Step, e.Run, e.Step, e.Items-1)
	case ItemOverridden:
		return fmt.Sprintf("%s: step %s is overridden too, which sets its whole output, so no item of it runs", at, e.Step)
	case ItemOverride:
		return fmt.Sprintf("%s: an override sets the whole output of a step, not one item", at)
	}
	return fmt.Sprintf("%s: no item of step %s can be run again", at, e.Step)
}
