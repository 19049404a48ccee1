//go:build linux

package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The live view, checked the way a person sees it: the real binary runs
// under a pseudo-terminal and the screen model replays what it drew.

func examplePath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// screenOf replays what a program drew on a terminal cols wide.
func screenOf(t *testing.T, drawn string, cols int) string {
	t.Helper()
	scr := newScreen(cols)
	scr.Feed(drawn)
	if len(scr.Unknown()) > 0 {
		t.Errorf("kitaru drew escape sequences the screen model does not know: %q", scr.Unknown())
	}
	return scr.String()
}

// rowsMatching counts the screen rows that match re.
func rowsMatching(screen, re string) int {
	n := 0
	rx := regexp.MustCompile(re)
	for _, l := range strings.Split(screen, "\n") {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

func TestViewPTYRunCompleted(t *testing.T) {
	for _, colour := range []bool{false, true} {
		name := "no_color"
		if colour {
			name = "color"
		}
		t.Run(name, func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			e.setenv("KITARU_LLM_MOCK_RESPONSE", "A mocked paragraph.")
			e.setenv("TERM", "xterm")
			if colour {
				e.setenv("NO_COLOR", "")
			}
			drawn, code := runInPTY(t, e.command("run", examplePath(t, "llm_writer.yaml")), 100)
			screen := screenOf(t, drawn, 100)
			if code != 0 {
				t.Fatalf("exit %d; screen:\n%s", code, screen)
			}
			// Each step has exactly one row in the final frame: redraws
			// replaced earlier frames instead of piling up below them.
			for _, re := range []string{`^✓ outline +done (\d+ms|\d+\.\ds)$`, `^✓ draft +done (\d+ms|\d+\.\ds)$`, `^run kr-\S+ completed · (\d+ms|\d+\.\ds)$`} {
				if n := rowsMatching(screen, re); n != 1 {
					t.Errorf("%d rows match %s, want 1; screen:\n%s", n, re, screen)
				}
			}
			if n := rowsMatching(screen, `pending|running| started`); n != 0 {
				t.Errorf("the final screen still shows a step in progress or a plain log line:\n%s", screen)
			}
			if !strings.Contains(screen, "A mocked paragraph.") {
				t.Errorf("the run's output is not on screen:\n%s", screen)
			}
			if hasColour := strings.Contains(drawn, ansiGreen); hasColour != colour {
				t.Errorf("colour codes drawn = %v, want %v (NO_COLOR decides)", hasColour, colour)
			}
		})
	}
}

func TestViewPTYRunWaiting(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "Draft text.")
	drawn, code := runInPTY(t, e.command("run", examplePath(t, "wait_and_resume.yaml")), 120)
	screen := screenOf(t, drawn, 120)
	if code != ExitWaiting {
		t.Fatalf("exit %d, want %d; screen:\n%s", code, ExitWaiting, screen)
	}
	for _, re := range []string{
		`^✓ draft +done`,
		`^\? approval +waiting for input: Publish this draft\? Answer true or false\.$`,
		`^· details +pending$`,
		`^· publish +pending$`,
		`^run kr-\S+ waiting · (\d+ms|\d+\.\ds)$`,
		"kitaru input kr-\\S+ approval --value",
	} {
		if n := rowsMatching(screen, re); n != 1 {
			t.Errorf("%d rows match %s, want 1; screen:\n%s", n, re, screen)
		}
	}
}

// Ctrl-C typed at the terminal: the run ends interrupted, the final frame
// says so, and the next command is on screen. The step ignores SIGINT and
// ^C is typed once its command runs, so kitaru, not the terminal's signal
// to the process group, is what stops it (a ^C typed while the step's
// process is being forked can reach it before it leaves kitaru's process
// group; that is the engine's to handle, not the view's).
func TestViewPTYCtrlC(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.write("slow.yaml", `name: slow
steps:
  quick: {kind: checkpoint, value: ready}
  slow: {kind: checkpoint, run: "trap '' INT; touch slow.started; sleep 60", needs: [quick]}
  after: {kind: checkpoint, value: done, needs: [slow]}
`)
	drawn, code := runInPTYWith(t, e.command("run", flow), 100, func(s *ptySession) {
		s.waitDrawn(t, "the slow step to run", func(d string) bool {
			return rowsMatching(screenOf(t, d, 100), `^▸ slow +running`) == 1
		})
		// Its shell is past fork and exec: ^C now reaches kitaru alone.
		waitFor(t, "the slow step's command to start", func() bool {
			_, err := os.Stat(filepath.Join(e.Dir, "slow.started"))
			return err == nil
		})
		s.typeKeys(t, "\x03")
	})
	screen := screenOf(t, drawn, 100)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d; screen:\n%s\nraw:\n%s", code, ExitInterrupted, screen, drawn)
	}
	for _, re := range []string{
		`^✓ quick +done`,
		`^■ slow +stopped after (\d+ms|\d+\.\ds)$`,
		`^· after +pending$`,
		`^run kr-\S+ interrupted · (\d+ms|\d+\.\ds)$`,
		"kitaru resume kr-",
	} {
		if n := rowsMatching(screen, re); n != 1 {
			t.Errorf("%d rows match %s, want 1; screen:\n%s", n, re, screen)
		}
	}
	if n := rowsMatching(screen, `running`); n != 0 {
		t.Errorf("a step still shows as running after the run ended:\n%s", screen)
	}
}

// Through the real provider code (langchaingo's OpenAI client against a
// local server): the live view shows each call's tokens and cost, and the
// footer their totals.
func TestViewPTYTokensAndCost(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	e.must(0, "model", "register", "fast", "--model", "openai/gpt-4o-mini")
	drawn, code := runInPTY(t, e.command("run", examplePath(t, "llm_writer.yaml")), 100)
	screen := screenOf(t, drawn, 100)
	if code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, screen)
	}
	if reqs, _ := srv.snapshot(); len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2", len(reqs))
	}
	// The fake server reports 11 prompt and 7 completion tokens per call.
	for _, re := range []string{
		`^✓ outline +done (\d+ms|\d+\.\ds) · 18 tok (<\$0\.0001|\$0\.\d{4})$`,
		`^✓ draft +done (\d+ms|\d+\.\ds) · 18 tok (<\$0\.0001|\$0\.\d{4})$`,
		`^run kr-\S+ completed · (\d+ms|\d+\.\ds) · 36 tok · (<\$0\.0001|\$0\.\d{4})$`,
	} {
		if n := rowsMatching(screen, re); n != 1 {
			t.Errorf("%d rows match %s, want 1; screen:\n%s", n, re, screen)
		}
	}
	if strings.Contains(drawn, testAPIKey) {
		t.Error("the API key reached the terminal")
	}
}

// A running command's latest line shows on its row, through the engine's
// ephemeral log events: no second shell with `logs -f` is needed. Once
// the step ends, its row says how it ended.
func TestViewPTYRunningCommandOutput(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.write("build.yaml", `name: build
steps:
  build: {kind: checkpoint, run: "echo compiling a.c; printf '\\033[33mcompiling b.c\\033[0m\\n'; while [ ! -f go.on ]; do sleep 0.05; done; echo linked"}
`)
	drawn, code := runInPTYWith(t, e.command("run", flow), 100, func(s *ptySession) {
		s.waitDrawn(t, "the command's latest line on its row", func(d string) bool {
			return rowsMatching(screenOf(t, d, 100), `^▸ build +running .* · compiling b\.c$`) == 1
		})
		if err := os.WriteFile(filepath.Join(e.Dir, "go.on"), nil, 0o600); err != nil {
			t.Error(err)
		}
	})
	screen := screenOf(t, drawn, 100)
	if code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, screen)
	}
	if n := rowsMatching(screen, `^✓ build +done (\d+ms|\d+\.\ds)$`); n != 1 {
		t.Errorf("the final frame does not say the step is done:\n%s", screen)
	}
}
