package executors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// Shell runs a checkpoint's command with sh -c in its own process group,
// so a timeout or a stop kills everything it started. The values of its
// ${{ }} reach sh as variables, never as text.
type Shell struct{}

// Execute runs the command to its end.
func (Shell) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	cp := u.Step.Checkpoint
	// The values of run:'s ${{ }} reach sh as variables, never as text.
	script, vars, err := cp.Run.Shell(u.Scope)
	if err != nil {
		return nil, err
	}
	// Printing more than max_output stops the command through this.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	ownGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	if cmd.Dir, err = commandDir(u); err != nil {
		return nil, err
	}
	cmd.Env = withPWD(os.Environ(), cmd.Dir)
	inherited := len(cmd.Env)
	for _, ev := range cp.Env {
		v, err := ev.Value.Render(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		cmd.Env = append(cmd.Env, ev.Name+"="+v)
	}
	cmd.Env = append(cmd.Env, u.Env...)
	cmd.Env = append(cmd.Env, vars...) // last: nothing inherited overrides them
	if cp.Stdin != nil {
		in, err := cp.Stdin.Render(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		cmd.Stdin = strings.NewReader(in)
	}
	limit := cp.MaxOutput
	if limit <= 0 {
		limit = flowspec.DefaultMaxOutput
	}
	stdout := sink.Capture("stdout", limit, limit, stop)
	stderr := sink.Capture("stderr", 0, limit, nil)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := runGroup(ctx, cmd, u, sink)
	stdout.Flush()
	stderr.Flush()
	if stdout.Over() {
		return nil, fmt.Errorf("the command printed more than %s on stdout (its max_output), so it was stopped; raise max_output, or write big output to a file and print its path", bytesize.Format(limit))
	}
	if errors.Is(runErr, syscall.E2BIG) {
		n := 0
		for _, v := range cmd.Env[inherited:] {
			n += len(v)
		}
		return nil, fmt.Errorf("the command could not start: its arguments and environment are larger than the system allows (its env: and the values of its ${{ }} come to %d bytes); pass big values through stdin:, or write them to a file and pass its path: %w", n, runErr)
	}
	if err := dirError(u, runErr != nil && cmd.Process == nil, cmd.Dir); err != nil {
		return nil, err
	}
	if errors.Is(runErr, exec.ErrWaitDelay) {
		return nil, fmt.Errorf("the command ended, but something it started outside its process group (setsid, a daemon) still held its stdout or stderr open %s later, so its output may be cut there; let the command wait for what it starts, or start that with its output sent elsewhere (`cmd >/dev/null 2>&1 &`)", cmd.WaitDelay)
	}
	if runErr != nil {
		err := fmt.Errorf("the command %s%s", exitText(runErr), tail(stderr.Text(), 10))
		if sig, ok := deathSignal(runErr); ok {
			return nil, &signalledError{sig: sig, err: err}
		}
		return nil, err
	}
	if kept := stdout.Kept(); invalidUTF8(kept) >= 0 {
		i := invalidUTF8(kept)
		// encoding/json would replace the byte in the record, silently.
		return nil, fmt.Errorf("its output is not UTF-8 text (byte 0x%02x at offset %d), and a step's output is recorded as text; encode binary output, e.g. `| base64`, or write it to a file and print its path", kept[i], i)
	}
	text := strings.TrimSuffix(stdout.Text(), "\n")
	stdout.Drop() // a big output is held once from here on
	out, err := sink.Output(text)
	if err != nil {
		return nil, err
	}
	return &work.Result{Output: out}, nil
}

// signalledError is a command that died of a signal.
type signalledError struct {
	sig syscall.Signal
	err error
}

func (e *signalledError) Error() string { return e.err.Error() }
func (e *signalledError) Unwrap() error { return e.err }

// StoppedLikeTheRun says whether the command was killed by a signal that
// also stops kitaru: ^C reaches every process of the terminal's foreground
// group (a command still being forked is in kitaru's), and supervisors such
// as systemd send SIGTERM to every process of a service at once. Such a
// command may die a moment before the run's context ends.
func (e *signalledError) StoppedLikeTheRun() bool {
	return e.sig == syscall.SIGINT || e.sig == syscall.SIGTERM
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if sig, ok := deathSignal(err); ok {
			return fmt.Sprintf("was stopped by signal %d (%s)", sig, sig)
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return "could not run: " + err.Error()
}

// tail quotes the last n lines of stderr for an error message, each cut at
// tailLineMax bytes. Control characters are kept as printed (the cli
// shows them as escapes on a terminal); only bytes that are not UTF-8 are
// written as \xNN, since the record is JSON text, which would replace them.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > tailLineMax {
			k := tailLineMax
			for k > 0 && !utf8.RuneStart(l[k]) {
				k--
			}
			l = l[:k] + "…"
		}
		lines[i] = escapeInvalidUTF8(l)
	}
	return "; stderr ends with:\n  " + strings.Join(lines, "\n  ")
}

const tailLineMax = 500

// escapeInvalidUTF8 is s with each byte that is not UTF-8 written as \xNN.
func escapeInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// invalidUTF8 is the offset of the first byte of b that is not UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
