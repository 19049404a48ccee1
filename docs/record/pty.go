//go:build ignore

// pty runs a command on a pseudo-terminal of a fixed size and prints what a
// person would see on that terminal once it ends: the escape sequences the
// live view draws with are applied, not copied. It exits with the command's
// exit code, or 125 when it cannot record (so fill.sh can tell the two
// apart). offline.sh uses it for the walkthrough's live-view screen.
//
// Usage: go run docs/record/pty.go [-cols N] [-rows N] -- command args...
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

func main() {
	cols := flag.Int("cols", 80, "terminal width")
	rows := flag.Int("rows", 24, "terminal height")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pty [-cols N] [-rows N] -- command args...")
		os.Exit(125)
	}
	drawn, code, err := run(flag.Args(), uint16(*cols), uint16(*rows))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pty:", err)
		os.Exit(125)
	}
	scr := &screen{width: *cols}
	scr.feed(string(drawn))
	if len(scr.unknown) > 0 {
		fmt.Fprintf(os.Stderr, "pty: the command drew escape sequences this screen model does not apply: %q\n", scr.unknown)
		os.Exit(125)
	}
	fmt.Print(scr.String())
	os.Exit(code)
}

// run starts args with a new terminal of cols×rows as its stdin, stdout and
// stderr (syscall alone: /dev/ptmx, unlock, open the slave, set its size)
// and returns every byte it drew.
func run(args []string, cols, rows uint16) ([]byte, int, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, 0, err
	}
	defer master.Close()
	ioctl := func(f *os.File, req uintptr, arg unsafe.Pointer) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
			return e
		}
		return nil
	}
	unlock := int32(0)
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		return nil, 0, fmt.Errorf("unlock pty: %w", err)
	}
	var n uint32
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		return nil, 0, fmt.Errorf("pty number: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, 0, err
	}
	ws := struct{ Row, Col, X, Y uint16 }{Row: rows, Col: cols}
	if err := ioctl(slave, syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		slave.Close()
		return nil, 0, fmt.Errorf("set pty size: %w", err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return nil, 0, err
	}
	// Only the child holds the slave now, so reading ends (EIO) when it exits.
	slave.Close()
	var out bytes.Buffer
	_, rerr := io.Copy(&out, master)
	werr := cmd.Wait()
	var pe *os.PathError
	if rerr != nil && !(errors.As(rerr, &pe) && errors.Is(pe.Err, syscall.EIO)) {
		return nil, 0, rerr
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return out.Bytes(), ee.ExitCode(), nil
	}
	return out.Bytes(), 0, werr
}

// screen is a small terminal: CR, LF, cursor up, erase line, erase below and
// colours, the sequences the live view uses. Rows are never dropped, so
// lines scrolled off the top stay (a terminal keeps them in its scrollback).
type screen struct {
	width    int
	rows     [][]rune
	row, col int
	unknown  []string
}

func (s *screen) line() []rune {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	return s.rows[s.row]
}

func (s *screen) put(r rune) {
	if s.col >= s.width {
		s.row, s.col = s.row+1, 0
	}
	l := s.line()
	for len(l) <= s.col {
		l = append(l, ' ')
	}
	l[s.col] = r
	s.rows[s.row] = l
	s.col++
}

func (s *screen) feed(text string) {
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			s.col = 0
		case r == '\n':
			s.row, s.col = s.row+1, 0
			s.line()
		case r == '\x1b':
			if i+1 >= len(rs) || rs[i+1] != '[' {
				s.unknown = append(s.unknown, "ESC")
				continue
			}
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j >= len(rs) {
				s.unknown = append(s.unknown, string(rs[i:]))
				return
			}
			s.csi(string(rs[i+2:j]), rs[j])
			i = j
		case r >= ' ':
			s.put(r)
		}
	}
}

func (s *screen) csi(params string, final rune) {
	switch {
	case final == 'A':
		n, err := strconv.Atoi(params)
		if params == "" || err != nil {
			n = 1
		}
		s.row = max(0, s.row-n)
	case final == 'K' && params == "2":
		s.line()
		s.rows[s.row] = nil
	case final == 'J' && (params == "" || params == "0"):
		l := s.line()
		if s.col < len(l) {
			s.rows[s.row] = l[:s.col]
		}
		s.rows = s.rows[:s.row+1]
	case final == 'm':
		// Colours change nothing a person reads.
	default:
		s.unknown = append(s.unknown, "CSI "+params+string(final))
	}
}

// String is the screen's text, each row without trailing blanks and no
// blank rows at the end.
func (s *screen) String() string {
	var b strings.Builder
	for _, l := range s.rows {
		b.WriteString(strings.TrimRight(string(l), " "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}
