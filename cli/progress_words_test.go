package cli

import (
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// A retry or failure line quotes the end of a command's stderr, not the
// words that introduce it.
func TestErrSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ err, want string }{
		{"openai: 503 Service Unavailable\nbody", "openai: 503 Service Unavailable"},
		{"the command exited with status 2; stderr ends with:\n  ld: cannot find -lfoo\n  collect2: error\n", "the command exited with status 2; stderr ends with: collect2: error"},
		{"the command exited with status 1; stderr ends with:", "the command exited with status 1"},
		{"the command exited with status 1; stderr ends with:\n  \n", "the command exited with status 1"},
		{"\n  item 3 failed: the command exited with status 1; stderr ends with:\n  \x1b[2Jboom", `item 3 failed: the command exited with status 1; stderr ends with: \x1b[2Jboom`},
	} {
		if got := errSummary(tc.err); got != tc.want {
			t.Errorf("errSummary(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A foreach step resumed with a failed item from its earlier go counts
// that item as to do (it runs again), then as what its new go made of it.
func TestItemCountsAcrossGoes(t *testing.T) {
	t.Parallel()
	st := newRunState()
	now := func() time.Time { return t0 }
	run := pendingRun("f", "checkpoint:each")
	run.Steps[0].ItemCount = 3
	run.Steps[0].Items = []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepFailed}}
	steps := []struct {
		ev   engine.Event
		want string
	}{
		{engine.Event{Type: engine.EventRunStarted, Run: run}, "1/3 done"},
		{engine.Event{Type: engine.EventStepStarted, Step: "each", Attempt: 1}, "1/3 done"},
		{engine.Event{Type: engine.EventItemFinished, Step: "each", Item: ptr(1), Done: 2, Total: 3, Error: "boom"}, "1/3 done, 1 failed"},
		{engine.Event{Type: engine.EventItemFinished, Step: "each", Item: ptr(2), Done: 3, Total: 3}, "2/3 done, 1 failed"},
	}
	for i, s := range steps {
		st.apply(s.ev, now)
		if got := st.step("each").items(); got != s.want {
			t.Errorf("after event %d (%s): %q, want %q", i, s.ev.Type, got, s.want)
		}
	}
}
