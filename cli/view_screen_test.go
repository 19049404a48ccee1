package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The -update flag rewrites golden files. Another test file of this package
// may register it too; whoever comes first owns it (package variables are
// initialised before init functions run).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGolden compares got with testdata/<name>, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", name)
	if updateGoldens() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from what was drawn (rerun with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// screen is a tiny terminal model: enough of VT100 to replay what the live
// view writes (CR, LF, cursor up, erase line, erase below, SGR colours) and
// say what a person would see. Writing past the width wraps, as a terminal
// does, so a line that is too long shows up as a broken frame.
type screen struct {
	width    int
	rows     [][]rune
	row, col int
	unknown  []string // escape sequences the model does not know
}

func newScreen(width int) *screen { return &screen{width: width} }

func (s *screen) Write(p []byte) (int, error) {
	s.feed(string(p))
	return len(p), nil
}

func (s *screen) line() []rune {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	return s.rows[s.row]
}

func (s *screen) put(r rune) {
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

func (s *screen) feed(text string) {
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

func (s *screen) csi(params string, final rune) {
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
func (s *screen) String() string {
	var lines []string
	for _, l := range s.rows {
		lines = append(lines, strings.TrimRight(string(l), " "))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestScreenModel(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain lines", "a\nb\n", "a\nb\n"},
		{"carriage return overwrites", "abc\rX\n", "Xbc\n"},
		{"cursor up and erase redraws", "one\ntwo\n\x1b[2A\r\x1b[2Kuno\n\r\x1b[2Kdos\n", "uno\ndos\n"},
		{"erase below drops a longer old frame", "1\n2\n3\n\x1b[3A\r\x1b[2Kx\n\x1b[J", "x\n"},
		{"colours are invisible", "\x1b[32m✓\x1b[0m ok\n", "✓ ok\n"},
		{"long lines wrap", "abcdefgh\n", "abcde\nfgh\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScreen(5)
			if tc.name != "long lines wrap" {
				s.width = 80
			}
			s.feed(tc.in)
			if got := s.String(); got != tc.want {
				t.Errorf("screen = %q, want %q", got, tc.want)
			}
			if len(s.unknown) > 0 {
				t.Errorf("unknown sequences: %q", s.unknown)
			}
		})
	}
}

func osPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}
