package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// failureSession runs examples/failure.yaml as its comment says: once to
// completion past a failure continue_on_error lets pass, once with a
// failing deploy that the rollback (if: failure()) follows. What a person
// reads of both, and `executions get` of the failed run, is golden.
func failureSession(t *testing.T, e *e2e, flow string) {
	var b strings.Builder
	ids := map[string]string{}
	show := func(name string, r result) {
		b.WriteString("=== " + name + "\n" + r.String())
	}

	r := e.must(0, "run", flow, "--parallel", "1")
	done := e.record("last")
	ids[done.ID] = "kr-COMPLETED"
	show("kitaru run examples/failure.yaml", r)
	wantSteps(t, done, map[string]engine.StepStatus{"fetch_cache": engine.StepFailed, "deploy": engine.StepCompleted,
		"announce": engine.StepCompleted, "rollback": engine.StepSkipped, "summary": engine.StepCompleted})
	if done.Ending == nil || len(done.Ending.Continued) != 1 || !stepOf(t, done, "fetch_cache").Continued {
		t.Errorf("the completed run does not say fetch_cache's failure was continued: %+v", done.Ending)
	}

	r = e.must(ExitRunFailed, "run", flow, "--parallel", "1", "--input", "break_deploy=true")
	failed := e.record("last")
	ids[failed.ID] = "kr-FAILED"
	show("kitaru run examples/failure.yaml --input break_deploy=true", r)
	wantSteps(t, failed, map[string]engine.StepStatus{"deploy": engine.StepFailed, "announce": engine.StepSkipped,
		"rollback": engine.StepCompleted, "summary": engine.StepCompleted})
	for _, s := range failed.Steps {
		if s.Status == engine.StepPending {
			t.Errorf("step %s is left pending in the failed run", s.ID)
		}
	}
	show("kitaru executions get kr-FAILED", e.must(0, "executions", "get", failed.ID))
	checkGolden(t, "cli/failure_example.txt.golden", normaliseText(b.String(), e, ids))
}

var (
	clockRE    = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d `)
	startedRE  = regexp.MustCompile(`(?m)^started   .*$`)
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s)\b( *)`)
)

// normaliseText takes out of what a person reads what changes from one
// run to the next: run ids, clocks, durations, the home directory.
func normaliseText(s string, e *e2e, ids map[string]string) string {
	for id, name := range ids {
		s = strings.ReplaceAll(s, id, name)
	}
	s = strings.ReplaceAll(s, e.Home, "$KITARU_HOME")
	// A flow file of this repository (named in retry hints) reads as typed
	// from its root.
	if root, err := filepath.Abs(".."); err == nil {
		s = strings.ReplaceAll(s, root+string(filepath.Separator), "")
	}
	s = clockRE.ReplaceAllString(s, "HH:MM:SS ")
	s = startedRE.ReplaceAllString(s, "started   TIME")
	// A duration in a table keeps its width, so the columns stay put
	// whatever the durations were.
	return durationRE.ReplaceAllStringFunc(s, func(m string) string {
		if !strings.HasSuffix(m, " ") {
			return "D"
		}
		return "D" + strings.Repeat(" ", len(m)-1)
	})
}

// A failure continue_on_error let pass says so on its line, in yellow
// rather than a failure's red.
func TestContinuedStepLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		st        stepState
		plain     string
		live      string
		liveColor string
	}{
		{"a failure", stepState{status: engine.StepFailed, errLine: "boom"}, "failed: boom", "failed: boom", ansiRed},
		{"continued", stepState{status: engine.StepFailed, errLine: "boom", continued: true}, "failed (continued): boom", "failed (continued): boom", ansiYellow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := plainStepText(&tt.st); got != tt.plain {
				t.Errorf("plain line %q, want %q", got, tt.plain)
			}
			_, colour, text := liveStepText(&tt.st, t0)
			if text != tt.live || colour != tt.liveColor {
				t.Errorf("live line %q in %q, want %q in %q", text, colour, tt.live, tt.liveColor)
			}
		})
	}
}
