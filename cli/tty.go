package cli

import (
	"io"
	"os"

	"github.com/kitaruhq/kitaru/internal/textsafe"
)

// fdWriter is a writer backed by a file descriptor (an *os.File).
type fdWriter interface {
	io.Writer
	Fd() uintptr
}

// isTTY says whether w is a terminal, so progress can be drawn in place.
func isTTY(w io.Writer) bool {
	f, ok := w.(fdWriter)
	if !ok {
		return false
	}
	return isTerminal(f.Fd())
}

// useColor says whether colours are welcome: not when NO_COLOR is set to
// anything (no-color.org) or the terminal is dumb. getenv nil is os.Getenv.
func useColor(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	return getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// termSize is the size of the terminal behind w: 80 columns when it cannot
// be told, 0 rows (no limit) likewise.
func termSize(w io.Writer) (cols, rows int) {
	if f, ok := w.(fdWriter); ok {
		cols, rows = terminalSize(f.Fd())
	}
	if cols <= 0 {
		cols = 80
	}
	return cols, rows
}

// forPeople is w for text that holds what commands and models printed (log
// lines, outputs, errors quoting stderr): on a terminal, control bytes and
// escape sequences in it are shown as escapes (\x1b) so they cannot retitle
// the window, clear the screen or hide lines; a pipe or a file gets the
// bytes as recorded, as cat log.txt would.
func forPeople(w io.Writer) io.Writer {
	if isTTY(w) {
		return textsafe.NewWriter(w)
	}
	return w
}
