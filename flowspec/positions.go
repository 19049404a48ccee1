package flowspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// posAt maps a byte offset in a scalar's value to a place in the file.
func (l *loader) posAt(n *yaml.Node, off int) Pos {
	v := n.Value
	if off > len(v) {
		off = len(v)
	}
	before := v[:off]
	if n.Style&yaml.LiteralStyle != 0 {
		line := strings.Count(before, "\n")
		col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:])
		return Pos{n.Line + 1 + line, l.blockIndent(n.Line) + 1 + col}
	}
	if !strings.Contains(before, "\n") && n.Style&yaml.FoldedStyle == 0 {
		col := n.Column + utf8.RuneCountInString(before)
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
			col++
		}
		p := Pos{n.Line, col}
		if l.sourceHas(p, v[off:]) {
			return p
		}
	}
	// Folding, line breaks and escapes change offsets: look for the text.
	if p, ok := l.findInSource(n, v, off); ok {
		return p
	}
	return pos(n)
}

// sourceHas says whether the file at p starts with the first characters of
// text.
func (l *loader) sourceHas(p Pos, text string) bool {
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	if p.Line < 1 || p.Line > len(l.lines) {
		return false
	}
	line := string(l.lines[p.Line-1])
	b := 0
	for c := 1; c < p.Col && b < len(line); c++ {
		_, size := utf8.DecodeRuneInString(line[b:])
		b += size
	}
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	if len(text) > 8 {
		text = text[:8]
	}
	return strings.HasPrefix(line[b:], text)
}

// findInSource finds where the text at off of a scalar's value is in the
// file, by searching the lines the scalar spans for it.
func (l *loader) findInSource(n *yaml.Node, v string, off int) (Pos, bool) {
	token := v[off:]
	if i := strings.IndexByte(token, '\n'); i >= 0 {
		token = token[:i]
	}
	if len(token) > 24 {
		token = token[:24]
	}
	token = strings.TrimRight(token, " ")
	if token == "" || strings.ContainsAny(token, "\\'\"") {
		return Pos{}, false
	}
	skip := strings.Count(v[:off], token)
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	span := min(1+strings.Count(v, "\n")+strings.Count(v, " "), 500)
	for i := n.Line - 1; i >= 0 && i < len(l.lines) && i < n.Line-1+span; i++ {
		line := string(l.lines[i])
		from := 0
		if i == n.Line-1 {
			from = min(max(n.Column-1, 0), len(line))
		}
		for {
			j := strings.Index(line[from:], token)
			if j < 0 {
				break
			}
			if skip == 0 {
				return Pos{i + 1, utf8.RuneCountInString(line[:from+j]) + 1}, true
			}
			skip--
			from += j + len(token)
		}
	}
	return Pos{}, false
}

// blockIndent is the indentation of the first non-blank line of the block
// scalar whose indicator is on line.
func (l *loader) blockIndent(line int) int {
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	for i := line; i < len(l.lines); i++ { // l.lines[line] is the line after it
		s := l.lines[i]
		if len(bytes.TrimSpace(s)) == 0 {
			continue
		}
		return len(s) - len(bytes.TrimLeft(s, " "))
	}
	return 0
}

// yamlError reports a YAML syntax error at its line, with a hint for the
// common `: ` inside an expression.
func (l *loader) yamlError(err error) {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		l.e.add(Pos{1, 1}, "this is not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
		return
	}
	line, _ := strconv.Atoi(m[1])
	what := m[2]
	if l.lines == nil {
		l.lines = bytes.Split(l.data, []byte("\n"))
	}
	if line < 1 || line > len(l.lines) {
		l.e.add(Pos{max(line, 1), 1}, "this is not valid YAML: %s", what)
		return
	}
	// yaml.v3 gives only the line: find the likely column in it.
	text := string(l.lines[line-1])
	col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
	switch {
	case strings.Contains(what, "mapping values are not allowed") && strings.Index(text, ":") > 1024+col:
		// yaml.v3 takes a plain key of more than 1024 characters for text.
		n := utf8.RuneCountInString(strings.TrimSpace(text[:strings.Index(text, ":")]))
		l.e.add(Pos{line, col}, "this key is %d characters long; YAML allows at most 1024 in a key (a step id may have %d): shorten it", n, MaxStepIDLength)
		return
	case strings.Contains(what, "mapping values are not allowed"):
		if i := strings.Index(text, "${{"); i >= 0 {
			l.e.add(Pos{line, utf8.RuneCountInString(text[:i]) + 1}, "this is not valid YAML: %s. A plain value may not contain \": \"; put the whole value in single quotes, e.g. value: '${{ {\"a\": 1} }}'", what)
			return
		}
		// The second ": " on the line is the one YAML trips over.
		if first := strings.Index(text, ": "); first >= 0 {
			if second := strings.Index(text[first+2:], ": "); second >= 0 {
				col = utf8.RuneCountInString(text[:first+2+second]) + 1
				what += "; quote a value that contains \": \""
			}
		}
	case strings.Contains(what, "did not find expected ',' or '}'"):
		// yaml.v3 names the line the block holding the { } starts on;
		// the mapping is at or below it, and the usual cause a plain
		// value in it with a character that ends or starts something.
		for i := line; i <= min(line+8, len(l.lines)); i++ {
			t := string(l.lines[i-1])
			if j := strings.IndexByte(t, '{'); j >= 0 {
				line, col = i, utf8.RuneCountInString(t[:j])+1
				what += `; inside { } quote a value holding ?, #, [, ], { or } (question: "Ship it?"), or write the mapping as indented lines`
				break
			}
		}
	case strings.ContainsRune(text, '\t'):
		col = utf8.RuneCountInString(text[:strings.IndexByte(text, '\t')]) + 1
		what += "; indent with spaces, YAML does not allow tabs"
	case strings.Contains(what, "cannot start any token"):
		if i := strings.IndexAny(text, "@`"); i >= 0 {
			col = utf8.RuneCountInString(text[:i]) + 1
			what += "; quote a value that starts with @ or `"
		}
	case strings.Contains(what, "unexpected end of stream"):
		what += "; check that every quote and bracket is closed"
	}
	l.e.add(Pos{line, col}, "this is not valid YAML: %s", what)
}

// textProblem finds the first byte of data that YAML does not accept: not
// UTF-8, NUL, or another control character. It returns its place and what
// to do about it.
func textProblem(data []byte) (Pos, string, bool) {
	p, msg, bad, _ := scanText(data)
	return p, msg, bad
}

// scanText is textProblem that also tells whether data is plain ASCII
// without tabs or carriage returns, which parseBlockYAML then need not
// check again.
func scanText(data []byte) (_ Pos, _ string, bad, plain bool) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return Pos{1, 1}, "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8", true, false
	}
	plain = true
	line, start := 1, 0
	for i := 0; i < len(data); {
		c := data[i]
		size := 1
		if c >= utf8.RuneSelf || c == '\t' || c == '\r' {
			plain = false
		}
		if c >= utf8.RuneSelf {
			var r rune
			r, size = utf8.DecodeRune(data[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				return textPos(data, line, start, i), fmt.Sprintf("invalid UTF-8 byte 0x%02x; save the file as UTF-8", c), true, false
			case r >= 0x80 && r <= 0x9f && r != 0x85, r == 0xfffe, r == 0xffff:
				return textPos(data, line, start, i), fmt.Sprintf("control character U+%04X is not allowed in YAML; remove it, or write it as \\u%04x inside a double-quoted string", r, r), true, false
			}
		} else if c == '\n' {
			line, start = line+1, i+1
		} else if c == 0 {
			return textPos(data, line, start, i), "NUL byte (0x00): a flow file is text; remove the byte, or check that this is the flow file you meant", true, false
		} else if c < 0x20 && c != '\t' && c != '\r' || c == 0x7f {
			return textPos(data, line, start, i), fmt.Sprintf("control character U+%04X is not allowed in YAML; remove it, or write it as \\u%04x inside a double-quoted string", c, c), true, false
		}
		i += size
	}
	return Pos{}, "", false, plain
}

// textPos is the place of byte i on the line starting at byte start; the
// line before i is valid UTF-8.
func textPos(data []byte, line, start, i int) Pos {
	return Pos{line, utf8.RuneCount(data[start:i]) + 1}
}
