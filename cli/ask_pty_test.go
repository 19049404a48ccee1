//go:build linux

package cli

import (
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// TestPTYInputAsksOnTheTerminal: `kitaru input RUN` with no --value asks
// each waiting question there, shows the schema, asks again after an
// answer the schema refuses, then resumes the run.
func TestPTYInputAsksOnTheTerminal(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.flow("ask.yaml", `name: ask
steps:
  ship:
    kind: wait
    question: Ship it?
    schema: {type: boolean}
  channel:
    kind: wait
    question: Which channel?
  done:
    kind: checkpoint
    needs: [ship, channel]
    run: echo "${{ steps.ship.output }} ${{ steps.channel.output }}"
output: ${{ steps.done.output }}
`)
	id := announcedID(t, e.must(ExitWaiting, "run", flow, "--quiet").Stdout)
	drawn, code := runInPTYWith(t, e.command("input", id), 100, func(s *ptySession) {
		s.waitDrawn(t, "the first question", func(d string) bool { return strings.Contains(d, "> ") })
		s.typeKeys(t, "maybe\r")
		s.waitDrawn(t, "the refusal", func(d string) bool { return strings.Count(d, "> ") == 2 })
		s.typeKeys(t, "true\r")
		s.waitDrawn(t, "the second question", func(d string) bool { return strings.Contains(d, "Which channel?") && strings.Count(d, "> ") == 3 })
		s.typeKeys(t, "blog\r")
	})
	if code != 0 {
		t.Fatalf("input exited %d:\n%s", code, drawn)
	}
	for _, want := range []string{"ship asks: Ship it?", `the answer must match {"type":"boolean"}`, "not taken:", "channel asks: Which channel?", "true blog"} {
		if !strings.Contains(drawn, want) {
			t.Errorf("the terminal does not show %q:\n%s", want, drawn)
		}
	}
	if st := e.record(id).Status; st != engine.RunCompleted {
		t.Errorf("the answered run is %s, want completed", st)
	}
}

// TestPTYInputEmptyLineLeavesTheRunWaiting: an empty answer records
// nothing and exits as a waiting run does.
func TestPTYInputEmptyLineLeavesTheRunWaiting(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.flow("ask.yaml", "name: ask\nsteps:\n  ship: {kind: wait, question: \"Ship it?\"}\n")
	id := announcedID(t, e.must(ExitWaiting, "run", flow, "--quiet").Stdout)
	drawn, code := runInPTYWith(t, e.command("input", id), 100, func(s *ptySession) {
		s.waitDrawn(t, "the question", func(d string) bool { return strings.Contains(d, "> ") })
		s.typeKeys(t, "\r")
	})
	if code != ExitWaiting || !strings.Contains(drawn, "still waiting") {
		t.Errorf("input with an empty answer: exit %d\n%s", code, drawn)
	}
	if st := e.record(id).Status; st != engine.RunWaiting {
		t.Errorf("the run is %s, want waiting", st)
	}
}

// Ctrl-C at a terminal prompt (input's question, secrets set's hidden
// value) stops kitaru at once, exit 130, storing nothing, and leaves the
// terminal echoing.
func TestPTYCtrlCAtAPrompt(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.setenv("KITARU_SECRETS_BACKEND", "file")
	flow := e.flow("ask.yaml", "name: ask\nsteps:\n  ship: {kind: wait, question: \"Ship it?\"}\n")
	id := announcedID(t, e.must(ExitWaiting, "run", flow, "--quiet").Stdout)
	for _, tc := range []struct {
		name   string
		args   []string
		prompt string
	}{
		{"input", []string{"input", id}, "> "},
		{"secret", []string{"secrets", "set", "typed", "--TOKEN"}, "(not shown): "},
	} {
		// stty -a after kitaru exits, on the same terminal, shows
		// whether echo is on.
		cmd := e.command()
		cmd.Path, cmd.Args = "/bin/sh", []string{"sh", "-c", `trap 'true' INT; "$0" "$@"; echo "exit=$?"; stty -a`, e.bin}
		cmd.Args = append(cmd.Args, tc.args...)
		drawn, _ := runInPTYWith(t, cmd, 100, func(s *ptySession) {
			s.waitDrawn(t, "the prompt", func(d string) bool { return strings.Contains(d, tc.prompt) })
			s.typeKeys(t, "\x03")
		})
		if !strings.Contains(drawn, "exit=130") {
			t.Errorf("%s: Ctrl-C at the prompt did not stop kitaru (exit 130):\n%s", tc.name, drawn)
		}
		if strings.Contains(drawn, "-echo ") {
			t.Errorf("%s: the terminal was left without echo:\n%s", tc.name, drawn)
		}
	}
	if st := e.record(id).Status; st != engine.RunWaiting {
		t.Errorf("after Ctrl-C the run is %s, want still waiting", st)
	}
	if r := e.run("secrets", "show", "typed"); r.Code == 0 {
		t.Errorf("a secret was stored after Ctrl-C:\n%s", r)
	}
}
