package runstore

// Remedy is what a person can do about a failure: which of kitaru's own
// ways out applies, and to which run, step or secret. It is data so the
// words, and the commands they name, are made by a front end (the command
// line prints a command, a web page would offer a button).
type Remedy struct {
	Do   RemedyKind `json:"do"`
	Run  string     `json:"run,omitempty"`
	Step string     `json:"step,omitempty"`
	Name string     `json:"name,omitempty"` // RemedySetSecret: the secret; RemedyRaiseBudget: the limit
}

// RemedyKind names one way out.
type RemedyKind string

// The ways out the engine and its executors offer.
const (
	RemedyListRuns      RemedyKind = "list_runs"       // no run matches: look at the runs there are
	RemedyWaitOrCancel  RemedyKind = "wait_or_cancel"  // Run is held by another process
	RemedyResume        RemedyKind = "resume"          // Run stopped part way and continues in place
	RemedyFreeSpace     RemedyKind = "free_space"      // the disk is full; then Run resumes
	RemedyFixStore      RemedyKind = "fix_store"       // records cannot be written; once they can, Run resumes
	RemedyRetry         RemedyKind = "retry"           // Run failed; retry runs its failed steps again
	RemedyAskAgain      RemedyKind = "ask_again"       // a wait of Run expired; retry asks again
	RemedyReplay        RemedyKind = "replay"          // Run is over; a replay makes a new run from it
	RemedyReplayStep    RemedyKind = "replay_step"     // Step's record in Run is gone; replay from it
	RemedyStopThenRetry RemedyKind = "stop_then_retry" // a leftover process must be stopped by hand first
	RemedyQuoteAnswer   RemedyKind = "quote_answer"    // an answer that is not JSON: quote strings
	RemedyRegisterModel RemedyKind = "register_model"  // no model provider is configured
	RemedySetSecret     RemedyKind = "set_secret"      // secret Name is missing
	RemedyReplayNewFlow RemedyKind = "replay_new_flow" // the flow file (and its directory) moved
	RemedyRaiseBudget   RemedyKind = "raise_budget"    // Run spent its budget; Name: the limit reached (max_cost_usd, max_tokens)
	RemedyRunHere       RemedyKind = "run_here"        // what was asked cannot run on Temporal yet; run it on this machine
	RemedyAnswerChild   RemedyKind = "answer_child"    // child run Run waits; answer it, then retry its parent (Name); in records of kitaru before its foreach items could wait
)

// AdvisedError is an error together with the way out of it. Its message
// is the error's alone.
type AdvisedError struct {
	Err error
	Fix Remedy
}

func (e *AdvisedError) Error() string { return e.Err.Error() }
func (e *AdvisedError) Unwrap() error { return e.Err }

// Advise attaches r to err (nil stays nil).
func Advise(err error, r Remedy) error {
	if err == nil {
		return nil
	}
	return &AdvisedError{Err: err, Fix: r}
}

// Remedy is the way out.
func (e *AdvisedError) Remedy() *Remedy { r := e.Fix; return &r }

// Remedy: another holder has the run, so wait, or ask it to stop.
func (e *HeldError) Remedy() *Remedy { return &Remedy{Do: RemedyWaitOrCancel, Run: e.RunID} }

// Remedy: a step without its record runs again in a replay from it (or a
// retry); a run's own records have no way out but repair.
func (e *DamagedError) Remedy() *Remedy {
	if e.Part != PartStep {
		return nil
	}
	return &Remedy{Do: RemedyReplayStep, Run: e.RunID, Step: e.Step}
}

// RemedyOf is the way out err offers: that of the outermost error in its
// chain with a Remedy method that gives one, or nil.
func RemedyOf(err error) *Remedy {
	var found *Remedy
	var walk func(error) bool
	walk = func(err error) bool {
		for err != nil {
			if r, ok := err.(interface{ Remedy() *Remedy }); ok {
				if found = r.Remedy(); found != nil {
					return true
				}
			}
			switch u := err.(type) {
			case interface{ Unwrap() error }:
				err = u.Unwrap()
			case interface{ Unwrap() []error }:
				for _, e := range u.Unwrap() {
					if walk(e) {
						return true
					}
				}
				return false
			default:
				return false
			}
		}
		return false
	}
	walk(err)
	return found
}
