// Package textsafe shows text that came from commands and models (a step's
// output, its log lines, its stderr) without letting it drive the terminal
// it is printed on: an escape sequence in such text could retitle the
// window, clear the screen, move the cursor over kitaru's own lines or hide
// what it says.
package textsafe

import (
	"io"
	"strconv"
	"unicode/utf8"
)

// Escape returns s with every byte that is not plain text shown as a
// visible escape: C0 controls other than \n and \t (ESC as \x1b, CR as
// \r), DEL, the C1 controls U+0080–U+009F (as \u009b) and bytes that are
// not UTF-8 (as \xff). Everything else, including a backslash, is kept, so
// ordinary text reads as it was printed.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b = appendHex(b, s[i])
		case r == '\r':
			b = append(b, `\r`...)
		case unsafeRune(r) && r < 0x80:
			b = appendHex(b, byte(r))
		case unsafeRune(r):
			b = append(b, `\u00`...)
			b = strconv.AppendUint(b, uint64(r)>>4, 16)
			b = strconv.AppendUint(b, uint64(r)&0xf, 16)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

func appendHex(b []byte, c byte) []byte {
	const digits = "0123456789abcdef"
	return append(b, '\\', 'x', digits[c>>4], digits[c&0xf])
}

// unsafeRune is a control a terminal may act on.
func unsafeRune(r rune) bool {
	return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f
}

// firstUnsafe is the index of the first byte Escape changes, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeRune(rune(c)) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
			return i
		}
		i += n
	}
	return -1
}

// Writer escapes everything written through it (see Escape). Each Write
// is escaped on its own: callers write whole lines or messages.
type Writer struct{ w io.Writer }

// NewWriter escapes what goes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

func (w *Writer) Write(p []byte) (int, error) {
	s := string(p)
	if firstUnsafe(s) < 0 {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, Escape(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}
