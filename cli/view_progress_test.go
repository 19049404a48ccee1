package cli

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/providers"
)

// t0 is when every scripted run starts; a fixed clock makes frames exact.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is a fake time source the scripts move forward.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// script is a run's life: events, clock moves, and points where the test
// looks at the screen.
type script []scriptStep

type scriptStep struct {
	at    time.Duration // clock offset from t0 for this step
	event *engine.Event
	look  string // non-empty: snapshot the screen under this title
}

func ev(at time.Duration, e engine.Event) scriptStep {
	e.Time = t0.Add(at)
	if e.RunID == "" {
		e.RunID = "kr-20261125-abcd"
	}
	return scriptStep{at: at, event: &e}
}

func look(at time.Duration, title string) scriptStep { return scriptStep{at: at, look: title} }

func ptr[T any](v T) *T { return &v }

func pendingRun(flow string, steps ...string) *engine.Run {
	r := &engine.Run{ID: "kr-20261125-abcd", Flow: flow, Status: engine.RunRunning, StartedAt: t0}
	for _, s := range steps {
		kind, id, _ := strings.Cut(s, ":")
		r.Steps = append(r.Steps, engine.StepResult{ID: id, Kind: flowspec.Kind(kind), Status: engine.StepPending})
	}
	return r
}

func done(id string, kind flowspec.Kind, ms int64, in, out int, cost *float64) *engine.StepResult {
	return &engine.StepResult{ID: id, Kind: kind, Status: engine.StepCompleted, Attempts: 1, DurationMS: ms,
		Usage: providers.Usage{InputTokens: in, OutputTokens: out}, CostUSD: cost}
}

func finalRun(base *engine.Run, status engine.RunStatus, at time.Duration, steps ...engine.StepResult) *engine.Run {
	r := *base
	r.Status = status
	r.EndedAt = ptr(t0.Add(at))
	r.Steps = steps
	for _, s := range steps {
		if s.Reused {
			continue
		}
		r.Usage = r.Usage.Add(s.Usage)
		if s.CostUSD != nil {
			r.CostUSD += *s.CostUSD
		}
	}
	return &r
}

func scripts() map[string]script {
	s := time.Second
	writer := pendingRun("llm_writer", "llm:outline", "llm:draft")
	outline := done("outline", flowspec.KindLLM, 1200, 120, 230, ptr(0.00021))
	draft := done("draft", flowspec.KindLLM, 1900, 400, 310, ptr(0.00025))

	fan := pendingRun("fan_out", "llm:research", "llm:summarise", "checkpoint:join", "checkpoint:notify", "checkpoint:publish")
	fan.ReplayOf = ptr("kr-20261124-0001")
	fan.ReplayFrom = "summarise"
	fan.Steps[0] = *done("research", flowspec.KindLLM, 800, 50, 60, ptr(0.0001))
	fan.Steps[0].Reused = true
	// The live view says briefly what changed in a step --from reused;
	// the plain one says it whole.
	fan.Steps[0].Why = &engine.Reason{Code: runstore.ReasonNotDownstream, Run: "kr-20261124-0001", From: "summarise",
		Though: &engine.Reason{Code: runstore.ReasonModelChanged, Model: &engine.ModelChange{Was: "openai/gpt-4o-mini", Now: "openai/gpt-4.1", WasAlias: "fast", NowAlias: "fast"}}}
	summarise := &engine.StepResult{ID: "summarise", Kind: flowspec.KindLLM, Status: engine.StepFailed, Attempts: 3,
		DurationMS: 4200, Usage: providers.Usage{InputTokens: 30000, OutputTokens: 12000},
		Error: ptr("item 2: openai: 429 Too Many Requests: you exceeded your quota\nsee https://platform.openai.com/account/limits"),
		Items: []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepCompleted}, {Index: 2, Status: engine.StepFailed}}}
	// An older kitaru's record: its sentence, as written.
	join := &engine.StepResult{ID: "join", Kind: flowspec.KindCheckpoint, Status: engine.StepSkipped, Reason: "summarise failed"}
	notify := &engine.StepResult{ID: "notify", Kind: flowspec.KindCheckpoint, Status: engine.StepSkipped}
	publish := &engine.StepResult{ID: "publish", Kind: flowspec.KindCheckpoint, Status: engine.StepPending}

	wait := pendingRun("wait_and_resume", "llm:draft", "wait:approval", "wait:details", "checkpoint:publish")
	wdraft := done("draft", flowspec.KindLLM, 300, 0, 0, ptr(0.0))
	outline.Why = &engine.Reason{Code: runstore.ReasonOverridden}
	approval := &engine.StepResult{ID: "approval", Kind: flowspec.KindWait, Status: engine.StepWaiting,
		Wait: &engine.WaitInfo{Question: "Publish this draft? Answer true or false.\nKitaru now waits.", Schema: map[string]any{"type": "boolean"}}}

	many := pendingRun("many", "checkpoint:s0", "checkpoint:s1", "checkpoint:s2", "checkpoint:s3", "checkpoint:s4", "checkpoint:s5")

	resumed := pendingRun("wait_and_resume", "llm:draft", "wait:approval", "wait:details", "checkpoint:publish")
	resumed.Steps[0] = *wdraft
	resumed.Steps[1] = engine.StepResult{ID: "approval", Kind: flowspec.KindWait, Status: engine.StepCompleted, Attempts: 1,
		Wait: &engine.WaitInfo{Question: "Publish?", Answered: true, Answer: true}}
	// Its first go took 300ms; it then waited an hour for the answer.
	resumed.ActiveMS = 300
	resumedDone := func(id string, kind flowspec.Kind) *engine.StepResult {
		return &engine.StepResult{ID: id, Kind: kind, Status: engine.StepCompleted, Attempts: 1, DurationMS: 2}
	}

	override := pendingRun("llm_writer", "llm:outline", "llm:draft")
	override.ReplayOf = ptr("kr-20261124-0001")
	override.ReplayFrom = "draft"
	override.Steps[0] = *outline

	// A foreach whose second item fails: counted apart from the done one.
	items := pendingRun("items", "checkpoint:fetch")
	fetchFailed := &engine.StepResult{ID: "fetch", Kind: flowspec.KindCheckpoint, Status: engine.StepFailed, Attempts: 1, DurationMS: 2000,
		Error: ptr("item 1 failed: the command exited with status 1; stderr ends with:\n  curl: (6) Could not resolve host: example.invalid"),
		Items: []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepFailed}}}

	// A 10-item step interrupted after two items: 2 of 10, not 2 of 2.
	tenItems := pendingRun("ten", "checkpoint:each")
	tenFinal := engine.StepResult{ID: "each", Kind: flowspec.KindCheckpoint, Status: engine.StepPending,
		Items: []engine.ItemResult{{Index: 0, Status: engine.StepCompleted}, {Index: 1, Status: engine.StepCompleted}}}

	// A long command: its latest line shows while it runs; the plain view
	// prints one every plainOutputEvery at most.
	build := pendingRun("build", "checkpoint:compile", "checkpoint:ship")
	logLine := func(step string, item *int, text ...string) engine.Event {
		e := engine.Event{Type: engine.EventLog, Step: step, Item: item}
		for _, t := range text {
			e.Lines = append(e.Lines, engine.LogLine{Step: step, Item: item, Text: t})
		}
		return e
	}
	compiled := &engine.StepResult{ID: "compile", Kind: flowspec.KindCheckpoint, Status: engine.StepCompleted, Attempts: 2, DurationMS: 25000}
	shipped := &engine.StepResult{ID: "ship", Kind: flowspec.KindCheckpoint, Status: engine.StepCompleted, Attempts: 1, DurationMS: 1000}

	return map[string]script{
		"item_failed": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: items}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "fetch", Attempt: 1}),
			itemDone(1*s, "fetch", 0, 2),
			ev(2*s, engine.Event{Type: engine.EventItemFinished, Step: "fetch", Item: ptr(1), Done: 2, Total: 2,
				Error: "the command exited with status 1; stderr ends with:\n  curl: (6) Could not resolve host: example.invalid"}),
			look(2*s, "one done, one failed"),
			ev(2*s, engine.Event{Type: engine.EventStepFinished, Step: "fetch", Result: fetchFailed}),
			ev(2*s, engine.Event{Type: engine.EventRunFinished, Run: finalRun(items, engine.RunFailed, 2*s, *fetchFailed)}),
			look(2*s, "final"),
		},
		"interrupted_items": append(itemsUnder(tenItems, "each", 2, 10),
			ev(3*s, engine.Event{Type: engine.EventRunFinished, Run: finalRun(tenItems, engine.RunInterrupted, 3*s, tenFinal)}),
			look(3*s, "final")),
		"command_output": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: build}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "compile", Attempt: 1}),
			ev(1*s, logLine("compile", nil, "compiling a.c")),
			look(1*s, "its first line"),
			ev(4*s, logLine("compile", nil, "compiling b.c", "\x1b[31mwarning\x1b[0m: b.c:3 unused", "")),
			look(5*s, "the last line of a batch, without its colours"),
			ev(6*s, engine.Event{Type: engine.EventStepRetrying, Step: "compile", Attempt: 2, Delay: s,
				Error: "the command exited with status 2; stderr ends with:\n  ld: cannot find -lfoo\n  collect2: error: ld returned 1 exit status"}),
			look(6*s, "retrying, with the end of its stderr"),
			ev(7*s, engine.Event{Type: engine.EventStepStarted, Step: "compile", Attempt: 2}),
			ev(12*s, logLine("compile", nil, "compiling c.c")),
			ev(18*s, logLine("compile", nil, "compiling d.c")),
			ev(23*s, logLine("compile", nil, "linking")),
			ev(25*s, engine.Event{Type: engine.EventStepFinished, Step: "compile", Result: compiled}),
			ev(25*s, engine.Event{Type: engine.EventStepStarted, Step: "ship", Attempt: 1}),
			ev(26*s, engine.Event{Type: engine.EventStepRetrying, Step: "ship", Attempt: 2, Delay: s,
				Error: "the command exited with status 1; stderr ends with:\n"}),
			look(26*s, "retrying, nothing on stderr"),
			ev(26*s, engine.Event{Type: engine.EventStepFinished, Step: "ship", Result: shipped}),
			ev(26*s, engine.Event{Type: engine.EventRunFinished, Run: finalRun(build, engine.RunCompleted, 26*s, *compiled, *shipped)}),
			look(26*s, "final"),
		},
		// A replay knows its overridden step at the start; it is not "kept".
		"replay_override": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: override}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "draft", Attempt: 1}),
			ev(1900*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "draft", Result: draft}),
			ev(1900*time.Millisecond, engine.Event{Type: engine.EventRunFinished, Run: finalRun(override, engine.RunCompleted, 1900*time.Millisecond, *outline, *draft)}),
			look(2*s, "final"),
		},
		"resumed": {
			ev(time.Hour, engine.Event{Type: engine.EventRunStarted, Run: resumed}),
			ev(time.Hour, engine.Event{Type: engine.EventStepFinished, Step: "details", Result: resumedDone("details", flowspec.KindWait)}),
			ev(time.Hour, engine.Event{Type: engine.EventStepStarted, Step: "publish", Attempt: 1}),
			ev(time.Hour, engine.Event{Type: engine.EventStepFinished, Step: "publish", Result: resumedDone("publish", flowspec.KindCheckpoint)}),
			ev(time.Hour, engine.Event{Type: engine.EventRunFinished, Run: withActive(finalRun(resumed, engine.RunCompleted, time.Hour,
				*wdraft, resumed.Steps[1], *resumedDone("details", flowspec.KindWait), *resumedDone("publish", flowspec.KindCheckpoint)), 302)}),
			look(time.Hour, "final"),
		},
		// retry --flow: the edit is said above the frame, once.
		"edited_flow": {
			ev(time.Hour, engine.Event{Type: engine.EventFlowChanged, RunID: resumed.ID, Flow: &engine.FlowChange{Hash: "ab", File: "flow.yaml", Edited: []string{"publish"}}}),
			ev(time.Hour, engine.Event{Type: engine.EventRunStarted, Run: resumed}),
			ev(time.Hour, engine.Event{Type: engine.EventStepStarted, Step: "publish", Attempt: 1}),
			look(time.Hour, "running the edited step"),
		},
		// A resume after kill -9 stops what the killed kitaru left running
		// of a step before the step runs again.
		"leftover_stopped": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: pendingRun("orphan", "checkpoint:beat", "checkpoint:after")}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "beat", Attempt: 1}),
			ev(100*time.Millisecond, engine.Event{Type: engine.EventLeftoverStopped, Step: "beat", PGID: 4242}),
			look(s, "running again"),
			ev(2*s, engine.Event{Type: engine.EventStepFinished, Step: "beat", Result: resumedDone("beat", flowspec.KindCheckpoint)}),
			ev(2*s, engine.Event{Type: engine.EventStepStarted, Step: "after", Attempt: 1}),
			ev(2*s, engine.Event{Type: engine.EventStepFinished, Step: "after", Result: resumedDone("after", flowspec.KindCheckpoint)}),
			ev(2*s, engine.Event{Type: engine.EventRunFinished, Run: finalRun(pendingRun("orphan", "checkpoint:beat", "checkpoint:after"), engine.RunCompleted, 2*s,
				*resumedDone("beat", flowspec.KindCheckpoint), *resumedDone("after", flowspec.KindCheckpoint))}),
			look(2*s, "final"),
		},
		"many_pending": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: many}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "s3", Attempt: 1}),
			look(65*time.Second, "one of six running"),
		},
		"llm_writer": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: writer}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "outline", Attempt: 1}),
			look(700*time.Millisecond, "outline running"),
			ev(1200*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "outline", Result: outline}),
			ev(1200*time.Millisecond, engine.Event{Type: engine.EventStepStarted, Step: "draft", Attempt: 1}),
			ev(2*s, engine.Event{Type: engine.EventStepRetrying, Step: "draft", Attempt: 2, Error: "openai: 503 Service Unavailable\nbody", Delay: 2 * s}),
			look(3*s, "draft retrying"),
			ev(4*s, engine.Event{Type: engine.EventStepStarted, Step: "draft", Attempt: 2}),
			ev(5900*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "draft", Result: draft}),
			ev(5900*time.Millisecond, engine.Event{Type: engine.EventRunFinished, Run: finalRun(writer, engine.RunCompleted, 5900*time.Millisecond, *outline, *draft)}),
			look(6*s, "final"),
		},
		"replay_failed": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: fan}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "summarise", Attempt: 1}),
			itemDone(1*s, "summarise", 0, 3),
			itemDone(2*s, "summarise", 1, 3),
			look(2500*time.Millisecond, "two of three items"),
			ev(3*s, engine.Event{Type: engine.EventItemFinished, Step: "summarise", Item: ptr(2), Done: 3, Total: 3, Error: "429"}),
			look(3500*time.Millisecond, "an item failed"),
			ev(4200*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "summarise", Result: summarise}),
			ev(4200*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "join", Result: join}),
			ev(4200*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "notify", Result: notify}),
			ev(4300*time.Millisecond, engine.Event{Type: engine.EventRunFinished, Run: finalRun(fan, engine.RunFailed, 4300*time.Millisecond, fan.Steps[0], *summarise, *join, *notify, *publish)}),
			look(5*s, "final"),
		},
		"waiting": {
			ev(0, engine.Event{Type: engine.EventRunStarted, Run: wait}),
			ev(0, engine.Event{Type: engine.EventStepStarted, Step: "draft", Attempt: 1}),
			ev(300*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "draft", Result: wdraft}),
			ev(300*time.Millisecond, engine.Event{Type: engine.EventStepFinished, Step: "approval", Result: approval}),
			ev(300*time.Millisecond, engine.Event{Type: engine.EventRunFinished, Run: finalRun(wait, engine.RunWaiting, 300*time.Millisecond, *wdraft, *approval,
				engine.StepResult{ID: "details", Kind: flowspec.KindWait, Status: engine.StepPending},
				engine.StepResult{ID: "publish", Kind: flowspec.KindCheckpoint, Status: engine.StepPending})}),
			look(time.Second, "final"),
		},
	}
}

// itemsUnder starts run's foreach step and finishes n of its total
// items, one a second.
func itemsUnder(run *engine.Run, step string, n, total int) script {
	sc := script{ev(0, engine.Event{Type: engine.EventRunStarted, Run: run}), ev(0, engine.Event{Type: engine.EventStepStarted, Step: step, Attempt: 1})}
	for i := range n {
		sc = append(sc, itemDone(time.Duration(i+1)*time.Second, step, i, total))
	}
	return sc
}

// itemDone is item i of a step's total finishing, the (i+1)th to.
func itemDone(at time.Duration, step string, i, total int) scriptStep {
	return ev(at, engine.Event{Type: engine.EventItemFinished, Step: step, Item: ptr(i), Done: i + 1, Total: total})
}

func withActive(r *engine.Run, ms int64) *engine.Run {
	r.ActiveMS = ms
	return r
}

// play feeds a script to a view and returns what the screen showed at each
// look, and the raw bytes written.
func play(t *testing.T, sc script, opts progressOptions, width int) (looks string, raw string) {
	t.Helper()
	clk := &clock{now: t0}
	scr := newScreen(width)
	var rawBuf bytes.Buffer
	w := &teeWriter{a: scr, b: &rawBuf}
	opts.Now = clk.Now
	opts.Location = time.UTC
	opts.Tick = -1
	opts.Width = width
	p := newProgress(w, opts)
	var b strings.Builder
	for _, st := range sc {
		clk.now = t0.Add(st.at)
		if st.event != nil {
			p.Event(*st.event)
		}
		if st.look != "" {
			if st.look == "final" {
				p.Close()
			} else if lp, ok := p.(*liveProgress); ok {
				lp.tick() // what the ticker does while nothing happens
			}
			fmt.Fprintf(&b, "=== %s (+%s)\n%s", st.look, st.at, scr.String())
		}
	}
	p.Close()
	if len(scr.Unknown()) > 0 {
		t.Errorf("the view wrote escape sequences the screen model does not know: %q", scr.Unknown())
	}
	return b.String(), rawBuf.String()
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.a.Write(p)
	return w.b.Write(p)
}

func TestViewLiveGolden(t *testing.T) {
	for name, sc := range scripts() {
		t.Run(name, func(t *testing.T) {
			looks, raw := play(t, sc, progressOptions{TTY: true}, 80)
			checkGolden(t, "view/"+name+".tty.golden", looks)
			// A colour, not the cursor-up of a 3-row frame (\x1b[3A).
			if colourSeq.MatchString(raw) || strings.Contains(raw, "\x1b[1m") {
				t.Errorf("colours drawn with Color false: %q", raw)
			}
		})
	}
}

var colourSeq = regexp.MustCompile(`\x1b\[3[0-9]m`)

func TestViewPlainGolden(t *testing.T) {
	for name, sc := range scripts() {
		t.Run(name, func(t *testing.T) {
			_, raw := play(t, sc, progressOptions{}, 1000)
			checkGolden(t, "view/"+name+".plain.golden", raw)
			if strings.ContainsRune(raw, '\x1b') {
				t.Errorf("plain output holds escape codes: %q", raw)
			}
		})
	}
}

func TestViewQuietDrawsNothing(t *testing.T) {
	for _, tty := range []bool{false, true} {
		_, raw := play(t, scripts()["llm_writer"], progressOptions{TTY: tty, Color: true, Quiet: true}, 80)
		if raw != "" {
			t.Errorf("quiet (tty %v) wrote %q", tty, raw)
		}
	}
}

func TestViewColor(t *testing.T) {
	_, raw := play(t, scripts()["replay_failed"], progressOptions{TTY: true, Color: true}, 80)
	for _, want := range []string{ansiBlue, ansiRed, ansiCyan, ansiDim, ansiBold, ansiReset} {
		if !strings.Contains(raw, want) {
			t.Errorf("colour %q missing from the live view", want)
		}
	}
	// The screen a person reads is the same with or without colour.
	withColor, _ := play(t, scripts()["replay_failed"], progressOptions{TTY: true, Color: true}, 80)
	without, _ := play(t, scripts()["replay_failed"], progressOptions{TTY: true}, 80)
	if withColor != without {
		t.Errorf("colour changed the text:\n%s\nvs\n%s", withColor, without)
	}
}

// A narrow terminal must not wrap lines: wrapped lines break the cursor-up
// redraw and leave stale rows behind.
func TestViewNarrowTerminalDoesNotWrap(t *testing.T) {
	looks, _ := play(t, scripts()["replay_failed"], progressOptions{TTY: true}, 30)
	final := looks[strings.LastIndex(looks, "=== final"):]
	lines := strings.Split(strings.TrimRight(final, "\n"), "\n")[1:]
	if len(lines) != 7 { // 5 steps, a blank line, the footer
		t.Fatalf("final frame on a 30-column terminal has %d rows, want 7:\n%s", len(lines), final)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 30 {
			t.Errorf("row %q is %d columns wide", l, n)
		}
	}
}

// A frame taller than the terminal cannot be redrawn in place (cursor-up
// stops at the top row), so finished steps fold into one row.
func TestViewShortTerminalFolds(t *testing.T) {
	tests := []struct {
		script string
		height int
		want   []string
	}{
		{"llm_writer", 5, []string{"✓ outline", "✓ draft", "", "run kr-"}},
		{"llm_writer", 4, []string{"✓ 1 more steps finished", "✓ draft", "", "run kr-"}},
		{"many_pending", 6, []string{"· s0", "▸ s3", "· 4 more steps not shown", "", "run kr-"}},
		{"replay_failed", 0, []string{"↺ research", "✗ summarise", "- join", "- notify", "· publish", "", "run kr-"}},
		{"replay_failed", 7, []string{"✓ 2 more steps finished", "✗ summarise", "- notify", "· publish", "", "run kr-"}},
		{"replay_failed", 5, []string{"✓ 3 more steps finished", "✗ summarise", "", "run kr-"}},
		{"replay_failed", 6, []string{"✓ 3 more steps finished", "✗ summarise", "· publish", "", "run kr-"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.script, tc.height), func(t *testing.T) {
			clk := &clock{now: t0}
			scr := newScreen(80)
			p := newProgress(scr, progressOptions{TTY: true, Width: 80, Height: tc.height, Tick: -1, Now: clk.Now})
			for _, st := range scripts()[tc.script] {
				clk.now = t0.Add(st.at)
				if st.event != nil {
					p.Event(*st.event)
				}
			}
			p.Close()
			rows := strings.Split(strings.TrimSuffix(scr.String(), "\n"), "\n")
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), len(tc.want), scr)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(rows[i], w) {
					t.Errorf("row %d = %q, want it to start with %q", i, rows[i], w)
				}
			}
		})
	}
}

func TestUseColor(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"TERM": "xterm-256color"}, true},
		{map[string]string{"NO_COLOR": "1"}, false},
		{map[string]string{"NO_COLOR": "yes", "TERM": "xterm"}, false},
		{map[string]string{"TERM": "dumb"}, false},
	}
	for _, tc := range tests {
		if got := useColor(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("useColor(%v) = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestIsTTYFalseForPipesAndBuffers(t *testing.T) {
	if isTTY(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	r, w := osPipe(t)
	defer r.Close()
	defer w.Close()
	if isTTY(w) {
		t.Error("a pipe is not a terminal")
	}
	if opts := progressFor(w, false, func(string) string { return "" }); opts.TTY || opts.Color {
		t.Errorf("progressFor(pipe) = %+v, want plain without colour", opts)
	}
}

func TestFormatting(t *testing.T) {
	costs := map[float64]string{0: "$0", 0.00004: "<$0.0001", 0.00046: "$0.0005", 1.234: "$1.23"}
	for c, want := range costs {
		if got := viewCost(c); got != want {
			t.Errorf("viewCost(%v) = %q, want %q", c, got, want)
		}
	}
	ints := map[int]string{0: "0", 9999: "9999", 42000: "42,000", 1234567: "1,234,567"}
	for n, want := range ints {
		if got := viewInt(n); got != want {
			t.Errorf("viewInt(%d) = %q, want %q", n, got, want)
		}
	}
	if got := firstLine("\n  boom: it broke  \nstack"); got != "boom: it broke" {
		t.Errorf("firstLine = %q", got)
	}
	// An error may quote a command's stderr: its escapes must not reach the
	// live view, whose redraw they would break.
	if got := firstLine("\x1b]0;pwned\x07 boom \x1b[2J\r"); got != `\x1b]0;pwned\x07 boom \x1b[2J` {
		t.Errorf("firstLine kept controls: %q", got)
	}
	if got := textcut.Runes("abcdef", 4); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
}

// The ticker redraws while events arrive from another goroutine; -race
// checks the view's locking, and Close must leave the final frame last.
func TestViewTickerAndCloseAreSafe(t *testing.T) {
	var mu sync.Mutex
	scr := newScreen(80)
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return scr.Write(p)
	})
	p := newProgress(w, progressOptions{TTY: true, Tick: time.Millisecond, Width: 80})
	for _, st := range scripts()["llm_writer"] {
		if st.event != nil {
			p.Event(*st.event)
		}
	}
	p.Close()
	p.Close() // twice is harmless
	p.Event(engine.Event{Type: engine.EventStepStarted, Step: "late"})
	mu.Lock()
	defer mu.Unlock()
	got := scr.String()
	if !strings.Contains(got, "run kr-20261125-abcd completed · 5.9s") || strings.Contains(got, "late") {
		t.Errorf("final screen after Close:\n%s", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Warnings written while the live view draws (the file backend's, say) go
// above the frame; the frame below stays whole and is not repeated.
func TestViewMessagesAboveFrame(t *testing.T) {
	for _, tty := range []bool{true, false} {
		t.Run(fmt.Sprint("tty=", tty), func(t *testing.T) {
			clk := &clock{now: t0}
			scr := newScreen(80)
			p := newProgress(scr, progressOptions{TTY: tty, Width: 80, Tick: -1, Now: clk.Now, Location: time.UTC})
			msgs := progressWriter(p, scr)
			for i, st := range scripts()["llm_writer"] {
				clk.now = t0.Add(st.at)
				if st.event != nil {
					p.Event(*st.event)
				}
				switch i {
				case 1:
					fmt.Fprint(msgs, "warning: one\nwarning: two, in ")
				case 2:
					fmt.Fprint(msgs, "two writes\n")
				}
			}
			p.Close()
			fmt.Fprintln(msgs, "after the end")
			got := scr.String()
			if !tty {
				if !strings.Contains(got, "warning: one\nwarning: two, in two writes\n") {
					t.Errorf("messages not written as they came:\n%s", got)
				}
				return
			}
			want := "warning: one\nwarning: two, in two writes\n" +
				"✓ outline done 1.2s · 350 tok $0.0002 (overridden)\n" +
				"✓ draft   done 1.9s · 710 tok $0.0003\n\n" +
				"run kr-20261125-abcd completed · 5.9s · 1060 tok · $0.0005\n" +
				"after the end\n"
			if got != want {
				t.Errorf("screen:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The live view redraws on every event: drawing a frame of a large flow
// (200 steps, a foreach of 1000 items) must stay cheap next to a model call.
func BenchmarkLiveFrame(b *testing.B) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("checkpoint:step_%03d", i)
	}
	run := pendingRun("big", ids...)
	p := newProgress(io.Discard, progressOptions{TTY: true, Color: true, Width: 120, Height: 50, Tick: -1, Now: func() time.Time { return t0 }})
	p.Event(engine.Event{Type: engine.EventRunStarted, RunID: run.ID, Time: t0, Run: run})
	for i := range 100 {
		p.Event(engine.Event{Type: engine.EventStepFinished, RunID: run.ID, Time: t0, Step: run.Steps[i].ID,
			Result: done(run.Steps[i].ID, flowspec.KindCheckpoint, 10, 0, 0, nil)})
	}
	p.Event(engine.Event{Type: engine.EventStepStarted, RunID: run.ID, Time: t0, Step: run.Steps[100].ID, Attempt: 1})
	b.ResetTimer()
	for i := range b.N {
		p.Event(engine.Event{Type: engine.EventItemFinished, RunID: run.ID, Time: t0, Step: run.Steps[100].ID, Done: i%1000 + 1, Total: 1000})
	}
	b.StopTimer()
	p.Close()
}

// TestViewEscapesStepText: a failed step's error and a retry's reason are
// drawn with their controls visible, in both views.
func TestViewEscapesStepText(t *testing.T) {
	msg := "the command exited with status 1: \x1b]0;pwned\x07\x1b[2J"
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		p := newProgress(&b, progressOptions{TTY: tty, Width: 100, Tick: -1, Now: func() time.Time { return t0 }, Location: time.UTC})
		p.Event(engine.Event{Type: engine.EventRunStarted, RunID: "kr-x", Time: t0})
		p.Event(engine.Event{Type: engine.EventStepStarted, Step: "s", Time: t0})
		p.Event(engine.Event{Type: engine.EventStepRetrying, Step: "s", Attempt: 2, Error: msg, Time: t0})
		p.Event(engine.Event{Type: engine.EventStepFinished, Step: "s", Time: t0, Result: &engine.StepResult{ID: "s", Status: engine.StepFailed, Error: &msg}})
		p.Close()
		if out := b.String(); strings.Contains(out, "\x1b]0;") || strings.Contains(out, "\x1b[2J") || !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("tty=%v drew:\n%q", tty, out)
		}
	}
}
