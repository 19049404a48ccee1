package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashDuringFlowSwap kills a process retrying a failed run against its
// edited flow at each point of the swap: before the new flow is recorded
// the run is as it was and a retry --flow still works; after, the run is
// interrupted with the edited flow, and resume carries the edit out whole
// (the edited completed step a runs again, though the killed process had
// not yet forgotten its record).
func TestCrashDuringFlowSwap(t *testing.T) {
	t.Parallel()
	edit := func(s string) string {
		s = strings.Replace(s, "timeout: 100ms", "timeout: 5s", 1)
		return strings.Replace(s, "echo A\n", "echo A2\n", 1)
	}
	for _, tt := range []struct {
		point   string
		n       int
		swapped bool
	}{
		{"flow:written", 1, false},
		{"retryflow:replaced", 1, true},
		{"retryflow:forgot", 1, true},
	} {
		t.Run(tt.point, func(t *testing.T) {
			t.Parallel()
			te := newFileEnv(t)
			first := te.start(te.flow(editFlow), nil)
			wantStatus(t, first, RunFailed)
			edited := te.flow(edit(editFlow))
			file := filepath.Join(t.TempDir(), "crash.yaml")
			if err := os.WriteFile(file, edited.Source, 0o600); err != nil {
				t.Fatal(err)
			}
			child, _ := startChild(t, "run", te.home, []string{"KITARU_TEST_FLOW=" + file, "KITARU_TEST_RETRY_FLOW=" + first.ID,
				"KITARU_TEST_KILL_AT=" + tt.point, "KITARU_TEST_KILL_N=1"}, "")
			wantKilled(t, child)
			src, err := te.store.FlowSource(t.Context(), first.ID)
			if err != nil {
				t.Fatalf("the flow snapshot after the kill: %v", err)
			}
			if got := strings.Contains(string(src), "echo A2"); got != tt.swapped {
				t.Fatalf("after a kill at %s the edited flow is recorded: %v, want %v", tt.point, got, tt.swapped)
			}
			var run *Run
			if tt.swapped {
				got, err := te.eng.Get(t.Context(), first.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, got, RunInterrupted)
				run, err = te.eng.Resume(t.Context(), first.ID, 0)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				got, err := te.eng.Get(t.Context(), first.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, got, RunFailed)
				if run, err = te.eng.Retry(t.Context(), first.ID, 0, WithFlow(te.flow(edit(editFlow)))); err != nil {
					t.Fatal(err)
				}
			}
			wantStatus(t, run, RunCompleted)
			if run.Output != "C-B-A2" {
				t.Errorf("output %#v, want C-B-A2", run.Output)
			}
			wantCounts(t, te, map[string]int{"a": 2, "b": 2, "c": 1, "e": 1})
		})
	}
}
