package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// logSize is the bytes of a run's log.txt.
func (te *testEnv) logSize(id string) int64 {
	te.t.Helper()
	fi, err := os.Stat(filepath.Join(te.files.RunDir(id), "log.txt"))
	if err != nil {
		te.t.Fatal(err)
	}
	return fi.Size()
}

// TestOutputCap: a command that prints more than max_output is stopped
// (yes would print forever) and its step fails saying what to do; the log
// holds about what the step may print, not 17 times what it printed.
func TestOutputCap(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	f := te.flow(`
name: caps
steps:
  forever:
    kind: checkpoint
    run: yes
    max_output: 64KiB
    timeout: 60s
  flood_stderr:
    kind: checkpoint
    run: yes err | head -n 200000 >&2; echo done
    max_output: 64KiB
  just_fits:
    kind: checkpoint
    run: head -c 65536 /dev/zero | tr '\0' y
    max_output: 64KiB
  the_default:
    kind: checkpoint
    run: head -c 17000000 /dev/zero | tr '\0' y
`)
	t0 := time.Now()
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("the run took %s: the command was not stopped at its cap", d)
	}
	for id, want := range map[string]string{
		"forever":     "the command printed more than 64KiB on stdout (its max_output), so it was stopped; raise max_output, or write big output to a file and print its path",
		"the_default": "the command printed more than 16MiB on stdout (its max_output), so it was stopped; raise max_output, or write big output to a file and print its path",
	} {
		s := step(t, run, id)
		if s.Status != StepFailed || s.Error == nil || *s.Error != want {
			t.Errorf("%s: %s %v, want failed: %s", id, s.Status, deref(s.Error), want)
		}
	}
	if s := step(t, run, "flood_stderr"); s.Status != StepCompleted || s.Output != "done" {
		t.Errorf("flood_stderr: %s %v %v: stderr has no cap, only its log", s.Status, s.Output, deref(s.Error))
	}
	if s := step(t, run, "just_fits"); s.Status != StepCompleted || len(s.Output.(string)) != 65536 {
		t.Errorf("just_fits: %s %v: exactly max_output is allowed", s.Status, deref(s.Error))
	}

	// The default step may put 16MiB in the log; the three 64KiB steps two
	// streams' worth at most. Before, yes alone wrote ~17x what it printed.
	if size, most := te.logSize(run.ID), int64(16<<20+6*64<<10+4096); size > most {
		t.Errorf("log.txt is %d bytes, want at most %d", size, most)
	}
	var forever, flood []string
	te.eng.Logs(t.Context(), run.ID, "", false, func(l LogLine) error {
		switch l.Step {
		case "forever":
			forever = append(forever, l.Text)
		case "flood_stderr":
			flood = append(flood, l.Text)
		}
		return nil
	})
	if len(forever) < 1000 || forever[0] != "y" {
		t.Errorf("forever logged %d lines, the first %q: want its lines up to the log's cap", len(forever), first(forever))
	}
	note := ""
	for _, l := range flood {
		if strings.HasPrefix(l, "… ") {
			note = l
		}
	}
	if !strings.HasSuffix(note, " more bytes of stderr not logged (the log keeps at most 64KiB of each stream of an attempt)") || len(flood) < 1000 {
		t.Errorf("flood_stderr logged %d lines and no line counting what was not logged: %q", len(flood), last(flood, 2))
	}
}

// TestLongLineWithoutNewline: a 40MB line costs its length, not its length
// squared (the old log scanned everything pending at every write: 7.7s for
// 40MB, and 300MB never finished), and the log keeps only its start.
func TestLongLineWithoutNewline(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	run := te.start(te.flow(`
name: long
steps:
  line:
    kind: checkpoint
    run: head -c 40000000 /dev/zero | tr '\0' x
    max_output: 64MiB
`), nil)
	wantStatus(t, run, RunCompleted)
	if out := step(t, run, "line").Output.(string); len(out) != 40_000_000 {
		t.Errorf("output of %d bytes, want 40000000", len(out))
	}
	var lines []string
	te.eng.Logs(t.Context(), run.ID, "line", false, func(l LogLine) error { lines = append(lines, l.Text); return nil })
	want := strings.Repeat("x", logLineMax) + " … (39934464 more bytes of this line not logged)"
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("log holds %d lines, the first %.80q…; want the line cut at %d bytes", len(lines), first(lines), logLineMax)
	}
}

// TestStreamLogHoldsOnlyTheCut feeds a capture a 200MB line in pipe-sized
// writes: it holds at most the part of the line the log keeps, and takes
// well under a second (the old log would have scanned ~3e11 bytes).
func TestStreamLogHoldsOnlyTheCut(t *testing.T) {
	t.Parallel()
	u, st := captureUnit(t, nil)
	c := newCapture(u, "stderr", 0, 1<<20, nil)
	chunk := bytes.Repeat([]byte("z"), 64<<10)
	for range 200 << 20 / len(chunk) {
		c.Write(chunk)
		if len(c.log.line) > c.log.hold || cap(c.log.line) > 2*c.log.hold || len(c.kept) > 2*stderrKeep {
			t.Fatalf("the capture holds %d bytes of the line (cap %d) and %d of stderr", len(c.log.line), cap(c.log.line), len(c.kept))
		}
	}
	c.Write([]byte("tail\nnext"))
	c.flush()
	lines, err := st.Logs(bg, u.x.meta.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || !strings.HasSuffix(lines[0].Text, " … (209649668 more bytes of this line not logged)") || lines[1].Text != "next" {
		t.Errorf("logged %d lines: %.40q… %q", len(lines), lines[0].Text[len(lines[0].Text)-60:], last(texts(lines), 1))
	}
	if got := c.text(); !strings.HasPrefix(got, "…zzz") || !strings.HasSuffix(got, "zzztail\nnext") || len(got) > 2*stderrKeep+10 {
		t.Errorf("kept %d bytes of stderr ending %q", len(got), got[max(0, len(got)-20):])
	}
}

// TestStreamLogMasksASecretAtTheCut: a line is masked before it is cut,
// so a secret across the cut point leaves no prefix of itself in the log.
func TestStreamLogMasksASecretAtTheCut(t *testing.T) {
	t.Parallel()
	secret := "sekrit-" + strings.Repeat("k", 30)
	u, st := captureUnit(t, []string{secret})
	c := newCapture(u, "stdout", 1<<30, 1<<30, func() {})
	c.Write([]byte(strings.Repeat("a", logLineMax-10)))
	c.Write([]byte(secret + strings.Repeat("b", 100) + "\nshort " + secret + "\n"))
	c.flush()
	lines, _ := st.Logs(bg, u.x.meta.ID, 0)
	for _, l := range lines {
		if strings.Contains(l.Text, "sekrit") {
			t.Errorf("the log holds part of the secret: …%q", l.Text[max(0, len(l.Text)-80):])
		}
	}
	if len(lines) != 2 || lines[1].Text != "short ***" {
		t.Errorf("lines %q", last(texts(lines), 2))
	}
}

func TestStreamLogKeepsEveryLine(t *testing.T) {
	t.Parallel()
	u, st := captureUnit(t, nil)
	c := newCapture(u, "stdout", 1<<20, 1<<20, func() {})
	for _, w := range []string{"one\n\nth", "ree\n", "", "\nlast"} {
		c.Write([]byte(w))
	}
	c.flush()
	lines, _ := st.Logs(bg, u.x.meta.ID, 0)
	if got := strings.Join(texts(lines), "|"); got != "one||three||last" {
		t.Errorf("logged %q, want one||three||last", got)
	}
	if c.text() != "one\n\nthree\n\nlast" {
		t.Errorf("kept %q", c.text())
	}
}

// TestBinaryAndControlOutput: bytes that are not UTF-8 fail the step with
// how to encode them (the record is JSON text, which would silently
// replace them); NUL and other controls are text and kept exactly, in a
// failed command's quoted stderr too (the cli escapes them for a
// terminal), where only bytes that are not UTF-8 are written as \xNN.
func TestBinaryAndControlOutput(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`
name: binary
steps:
  controls:
    kind: checkpoint
    run: printf 'a\000b\tc\033[2J\r'
  invalid:
    kind: checkpoint
    run: printf 'ok\n\377\376'
  invalid_json:
    kind: checkpoint
    run: printf '"\377"'
    output: json
  escapes:
    kind: checkpoint
    run: printf '\033]0;pwned\007boom \377\n' >&2; exit 3
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	// Read back from disk, as the next step or a replay would.
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if out := step(t, got, "controls").Output; out != "a\x00b\tc\x1b[2J\r" {
		t.Errorf("controls output %q", out)
	}
	for id, want := range map[string]string{
		"invalid":      "its output is not UTF-8 text (byte 0xff at offset 3), and a step's output is recorded as text; encode binary output, e.g. `| base64`, or write it to a file and print its path",
		"invalid_json": "its output is not UTF-8 text (byte 0xff at offset 1), and a step's output is recorded as text; encode binary output, e.g. `| base64`, or write it to a file and print its path",
		"escapes":      "the command exited with status 3; stderr ends with:\n  \x1b]0;pwned\x07boom \\xff",
	} {
		if s := step(t, got, id); s.Status != StepFailed || deref(s.Error) != want {
			t.Errorf("%s: %s %q\nwant %q", id, s.Status, deref(s.Error), want)
		}
	}
}

// captureUnit is a unit of a one-step run in a fresh store, masking secrets.
func captureUnit(t testing.TB, secrets []string) (*unit, *filestore.Store) {
	t.Helper()
	st := filestore.New(t.TempDir())
	meta := &RunMeta{Run: Run{ID: "kr-capture"}}
	if err := os.MkdirAll(st.RunDir(meta.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := flowspec.Parse("c.yaml", []byte("name: c\nsteps:\n  s: {kind: checkpoint, run: 'true'}\n"), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &unit{x: &execution{e: New(Config{Store: st}), st: st, sc: context.Background(), meta: meta}, step: f.Step("s"), red: newRedactor(secrets)}, st
}

func texts(ls []LogLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string, n int) []string { return s[max(0, len(s)-n):] }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// BenchmarkCaptureShortLines is the cost of a command's output in the
// common shape: short lines, pipe-sized writes, all of it logged.
func BenchmarkCaptureShortLines(b *testing.B) {
	u, _ := captureUnit(b, nil)
	chunk := bytes.Repeat([]byte("a line of ordinary output, some forty bytes\n"), 1000)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		c := newCapture(u, "stdout", 1<<40, 1<<40, func() {})
		c.Write(chunk)
		c.flush()
	}
}

// BenchmarkCaptureLongLine is a line without a newline arriving in
// pipe-sized writes: its cost per byte must not grow with its length.
func BenchmarkCaptureLongLine(b *testing.B) {
	u, _ := captureUnit(b, nil)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	c := newCapture(u, "stderr", 0, 1<<40, nil)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		c.Write(chunk)
	}
	c.flush()
}

// What reaches the log is masked once, by the stream: text that reads as
// a secret only once another secret in it was masked stays as masking the
// whole output once gives.
func TestStreamLogMasksOnce(t *testing.T) {
	t.Parallel()
	secrets := []string{"tok-0123456789", "pre-***-post-x"}
	u, st := captureUnit(t, secrets)
	c := newCapture(u, "stdout", 1<<20, 1<<20, func() {})
	raw := "pre-tok-0123456789-post-x\n"
	c.Write([]byte(raw))
	c.flush()
	lines, _ := st.Logs(bg, u.x.meta.ID, 0)
	if want := strings.TrimSuffix(newRedactor(secrets).str(raw), "\n"); len(lines) != 1 || lines[0].Text != want {
		t.Errorf("logged %q, want %q", texts(lines), want)
	}
}

// Once a stream's log budget is spent its output is not masked for the
// log any more (nothing of it is logged): the stream holds nothing back.
func TestCaptureSkipsMaskingPastTheLogBudget(t *testing.T) {
	t.Parallel()
	u, st := captureUnit(t, []string{"tok-0123456789"})
	c := newCapture(u, "stdout", 1<<20, 100, func() {})
	c.Write([]byte(strings.Repeat("a", 200) + "\n"))
	c.Write([]byte("more tok-01234"))
	if len(c.mask.held) != 0 {
		t.Errorf("the stream still masks for a spent log: it holds %q", c.mask.held)
	}
	c.flush()
	lines, _ := st.Logs(bg, u.x.meta.ID, 0)
	if got := strings.Join(texts(lines), "|"); !strings.Contains(got, "215 more bytes of stdout not logged") {
		t.Errorf("logged %q", got)
	}
	if c.text() != strings.Repeat("a", 200)+"\nmore tok-01234" {
		t.Errorf("kept %q", c.text())
	}
}

// Of stderr only the end is kept; a secret across where the kept end
// begins leaves no suffix of itself in the text quoted.
func TestKeptStderrEndMasksASecretAcrossItsStart(t *testing.T) {
	t.Parallel()
	secret := "sekrit" + strings.Repeat("0123456789", 10)
	u, _ := captureUnit(t, []string{secret})
	c := newCapture(u, "stderr", 0, 1<<20, nil)
	c.Write([]byte(strings.Repeat("x", stderrKeep) + secret + strings.Repeat("y", stderrKeep-len(secret)/2)))
	if !c.trim || !strings.HasPrefix(string(c.kept), secret[len(secret)/2:]) {
		t.Fatalf("the kept end does not begin inside the secret: %q", c.kept[:20])
	}
	got := c.maskedText(u)
	if !strings.HasPrefix(got, "…***yyy") || strings.Contains(got, "456789") || !u.masked {
		t.Errorf("kept stderr begins %q (masked %v)", got[:min(len(got), 40)], u.masked)
	}
}

// BenchmarkCaptureShortLinesMasked is BenchmarkCaptureShortLines for a
// step with a secret: the stream masks each byte once.
func BenchmarkCaptureShortLinesMasked(b *testing.B) {
	u, _ := captureUnit(b, []string{testPEM, "tok-0123456789abcdef"})
	chunk := bytes.Repeat([]byte("a line of ordinary output, some forty bytes\n"), 1000)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		c := newCapture(u, "stdout", 1<<40, 1<<40, func() {})
		c.Write(chunk)
		c.flush()
	}
}
