//go:build linux

package cli

import (
	"strings"
	"testing"
)

// hostileFlow prints terminal escapes (a window title, clear screen, a
// colour) on stdout, on stderr and in its output.
const hostileFlow = `name: hostile
steps:
  show:
    kind: checkpoint
    run: printf 'a\033]0;pwned\007b\033[2Jc\n'; printf 'e\033[31mrr\n' >&2
output: ${{ steps.show.output }}
`

// rawEscapes are the sequences the flow prints; kitaru's own drawing uses
// none of them.
var rawEscapes = []string{"\x1b]0;", "\x1b[2J", "\x1b[31m", "\x07"}

// TestEscapesNeutralisedOnATerminal: what a command printed reaches a
// terminal with its controls shown as escapes, through the real binary on
// a pseudo-terminal; piped, the bytes are as recorded.
func TestEscapesNeutralisedOnATerminal(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("hostile.yaml", hostileFlow)

	drawn, code := runInPTY(t, e.command("run", flow), 100)
	if code != 0 {
		t.Fatalf("run exit %d:\n%q", code, drawn)
	}
	if !strings.Contains(drawn, `a\x1b]0;pwned\x07b\x1b[2Jc`) {
		t.Errorf("run did not show the output with visible escapes:\n%q", drawn)
	}
	for _, args := range [][]string{{"executions", "logs", "last"}, {"executions", "logs", "last", "--step", "show"}, {"executions", "get", "last"}} {
		drawn, code := runInPTY(t, e.command(args...), 100)
		if code != 0 {
			t.Fatalf("%v exit %d:\n%q", args, code, drawn)
		}
		for _, raw := range rawEscapes {
			if strings.Contains(drawn, raw) {
				t.Errorf("%v drew the raw sequence %q:\n%q", args, raw, drawn)
			}
		}
		if args[1] == "logs" && (!strings.Contains(drawn, `a\x1b]0;pwned\x07b\x1b[2Jc`) || !strings.Contains(drawn, `e\x1b[31mrr`)) {
			t.Errorf("%v did not show the lines with visible escapes:\n%q", args, drawn)
		}
	}

	// Piped, the lines are as recorded, as cat log.txt would show them.
	r := e.must(0, "executions", "logs", "last")
	if !strings.Contains(r.Stdout, "a\x1b]0;pwned\x07b\x1b[2Jc\n") || !strings.Contains(r.Stdout, "e\x1b[31mrr\n") {
		t.Errorf("piped logs changed the bytes:\n%q", r.Stdout)
	}
	if r := e.must(0, "run", flow, "-q"); !strings.HasSuffix(r.Stdout, "a\x1b]0;pwned\x07b\x1b[2Jc\n") {
		t.Errorf("piped output changed the bytes:\n%q", r.Stdout)
	}
}

// TestFailureEscapesNeutralisedOnATerminal: a failed command's stderr is
// recorded as it was printed (controls and all), and every place the cli
// prints the error on a terminal (run's failure message, its live view,
// executions get) shows the controls as escapes.
func TestFailureEscapesNeutralisedOnATerminal(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("fails.yaml", "name: fails\nsteps:\n  boom:\n    kind: checkpoint\n    run: printf 'a\\033]0;pwned\\007b\\033[2Jc\\n' >&2; exit 1\n")
	for _, args := range [][]string{{"run", flow}, {"executions", "get", "last"}} {
		drawn, code := runInPTY(t, e.command(args...), 100)
		if args[0] == "run" && code != ExitRunFailed {
			t.Fatalf("run exit %d:\n%q", code, drawn)
		}
		for _, raw := range rawEscapes {
			if strings.Contains(drawn, raw) {
				t.Errorf("%v drew the raw sequence %q:\n%q", args, raw, drawn)
			}
		}
		if !strings.Contains(drawn, `a\x1b]0;pwned\x07b\x1b[2Jc`) {
			t.Errorf("%v did not show the error with visible escapes:\n%q", args, drawn)
		}
	}
	// The record holds the bytes as printed.
	if r := e.must(0, "executions", "get", "last", "--json"); !strings.Contains(r.Stdout, `a\u001b]0;pwned\u0007b\u001b[2Jc`) {
		t.Errorf("the record does not hold the stderr as printed:\n%s", r.Stdout)
	}
}

// TestOutputCapEndToEnd: yes is stopped at its max_output, the run fails
// saying what to do, and the log stays about the size of the cap.
func TestOutputCapEndToEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("yes.yaml", "name: yes\nsteps:\n  flood:\n    kind: checkpoint\n    run: yes\n    max_output: 256KiB\n")
	r := e.must(ExitRunFailed, "run", flow)
	if !strings.Contains(r.Stderr, "step flood failed: the command printed more than 256KiB on stdout (its max_output), so it was stopped; raise max_output, or write big output to a file and print its path") {
		t.Errorf("the failure does not say what happened:\n%s", r)
	}
	logs := e.must(0, "executions", "logs", "last", "--step", "flood")
	if n := len(logs.Stdout); n > 256<<10 || n < 64<<10 {
		t.Errorf("executions logs printed %d bytes for a 256KiB cap", n)
	}
}
