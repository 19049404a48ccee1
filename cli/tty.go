package cli

import (
	"io"
	"os"
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
