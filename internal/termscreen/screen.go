// Package termscreen shows what a person would see on a terminal after a
// program drew on it: a tiny terminal model, and (on Linux) a
// pseudo-terminal to run the program on. The live view's tests and the
// walkthrough recorder (docs/record) share it.
package termscreen

import (
	"strconv"
	"strings"
)

// Screen is enough of VT100 to replay what kitaru's live view writes (CR,
// LF, cursor up, erase line, erase below, SGR colours). Writing past the
// width wraps, as a terminal does, so a line that is too long shows up as
// a broken frame. Rows are never dropped: lines scrolled off the top stay,
// as in a terminal's scrollback.
type Screen struct {
	width    int
	rows     [][]rune
	row, col int
	unknown  []string
}

// New is an empty screen width columns wide.
func New(width int) *Screen { return &Screen{width: width} }

// Write feeds what a program drew.
func (s *Screen) Write(p []byte) (int, error) {
	s.Feed(string(p))
	return len(p), nil
}

// Unknown lists the escape sequences the model met and did not apply.
func (s *Screen) Unknown() []string { return s.unknown }

func (s *Screen) line() []rune {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	return s.rows[s.row]
}

func (s *Screen) put(r rune) {
	if s.col >= s.width {
		s.row++
		s.col = 0
	}
	l := s.line()
	for len(l) <= s.col {
		l = append(l, ' ')
	}
	l[s.col] = r
	s.rows[s.row] = l
	s.col++
}

// Feed applies text to the screen.
func (s *Screen) Feed(text string) {
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r':
			s.col = 0
		case '\n':
			// A pty turns LF into CR LF (onlcr); the model does the same.
			s.row++
			s.col = 0
			s.line()
		case '\x1b':
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
		default:
			if r < ' ' {
				continue
			}
			s.put(r)
		}
	}
}

func (s *Screen) csi(params string, final rune) {
	n := 1
	if params != "" {
		if v, err := strconv.Atoi(params); err == nil {
			n = v
		}
	}
	switch final {
	case 'A':
		s.row = max(0, s.row-n)
	case 'K':
		if params == "2" {
			s.line()
			s.rows[s.row] = nil
		} else {
			s.unknown = append(s.unknown, "CSI "+params+"K")
		}
	case 'J':
		if params == "" || params == "0" {
			l := s.line()
			if s.col < len(l) {
				s.rows[s.row] = l[:s.col]
			}
			s.rows = s.rows[:s.row+1]
		} else {
			s.unknown = append(s.unknown, "CSI "+params+"J")
		}
	case 'm':
		// Colours change nothing a person reads.
	default:
		s.unknown = append(s.unknown, "CSI "+params+string(final))
	}
}

// String is the screen's text: trailing spaces and empty rows dropped.
func (s *Screen) String() string {
	var lines []string
	for _, l := range s.rows {
		lines = append(lines, strings.TrimRight(string(l), " "))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}
