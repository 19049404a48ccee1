//go:build linux

package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/internal/termscreen"
)

// runInPTY runs cmd with a terminal of cols columns as its stdin, stdout and
// stderr, and returns everything it drew and its exit code.
func runInPTY(t *testing.T, cmd *exec.Cmd, cols uint16) (drawn string, code int) {
	t.Helper()
	return runInPTYWith(t, cmd, cols, nil)
}

// ptySession is a program running on a pseudo-terminal, for tests that type
// into it while it runs.
type ptySession struct {
	master *os.File
	mu     sync.Mutex
	buf    bytes.Buffer
	more   chan struct{} // signalled after every read
}

func (s *ptySession) drawn() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitDrawn waits until what the program drew so far satisfies cond. The
// bound only turns a hang into a failure; it is not a timing assertion.
func (s *ptySession) waitDrawn(t *testing.T, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond(s.drawn()) {
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("gave up waiting for %s; drawn so far:\n%q", what, s.drawn())
		}
	}
}

// typeKeys writes to the terminal as a person typing would: the line
// discipline turns ^C into SIGINT for the program.
func (s *ptySession) typeKeys(t *testing.T, keys string) {
	t.Helper()
	if _, err := s.master.WriteString(keys); err != nil {
		t.Fatal(err)
	}
}

// runInPTYWith is runInPTY with interact called while the program runs.
func runInPTYWith(t *testing.T, cmd *exec.Cmd, cols uint16, interact func(*ptySession)) (drawn string, code int) {
	t.Helper()
	master, slave, err := termscreen.OpenPTY(cols, 40)
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Its own session with the pty as controlling terminal: the program is
	// the terminal's foreground process group, as in a shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatal(err)
	}
	slave.Close() // the child holds it; EOF (EIO) comes when the child is done
	s := &ptySession{master: master, more: make(chan struct{}, 1)}
	readErr := make(chan error, 1)
	go func() {
		p := make([]byte, 4096)
		for {
			n, err := master.Read(p)
			s.mu.Lock()
			s.buf.Write(p[:n])
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	if interact != nil {
		interact(s)
	}
	werr := cmd.Wait()
	if err := <-readErr; err != nil && !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF) {
		t.Fatalf("reading the terminal: %v", err)
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return s.drawn(), code
}

func TestPTYIsATerminal(t *testing.T) {
	master, slave, err := termscreen.OpenPTY(100, 30)
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if !isTTY(slave) {
		t.Error("isTTY(pty slave) = false")
	}
	if cols, rows := termSize(slave); cols != 100 || rows != 30 {
		t.Errorf("termSize(pty) = %d×%d, want 100×30", cols, rows)
	}
	if o := progressFor(slave, false, func(string) string { return "" }); !o.TTY || !o.Color {
		t.Errorf("progressFor(pty) = %+v, want a coloured live view", o)
	}
	if o := progressFor(slave, false, func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }); !o.TTY || o.Color {
		t.Errorf("progressFor(pty, NO_COLOR) = %+v, want a live view without colour", o)
	}
	if o := progressFor(slave, false, func(k string) string { return map[string]string{"TERM": "dumb"}[k] }); o.TTY || o.Color {
		t.Errorf("progressFor(pty, TERM=dumb) = %+v, want plain lines: a dumb terminal cannot move its cursor", o)
	}
	if o := progressFor(slave, true, nil); !o.Quiet {
		t.Errorf("progressFor(quiet) = %+v", o)
	}
}
