package flowspec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A run: command never has a value pasted into it. Each ${{ }} is
// replaced by ${KITARU_EXPR_n} (n counts the command's ${{ }} from 1), and
// the engine puts each value into the command's environment under that
// name, so sh expands it as it would any variable and never reads it as
// syntax. A small scanner reads the command as sh will, to refuse a ${{ }}
// where no variable expands (single quotes, a quoted heredoc, after a
// backslash) and to find those inside $(( )), whose value sh evaluates as
// arithmetic and which must therefore be a number.

// ShellVarPrefix starts the names of the variables that carry a run:
// command's ${{ }} values; env: may not use it.
const ShellVarPrefix = "KITARU_EXPR_"

// maxShellValue is the most a value may hold: Linux refuses to start a
// command with an environment string over 128 KiB (MAX_ARG_STRLEN), and
// the same limit everywhere keeps a flow portable.
const maxShellValue = 128<<10 - 1 - len(ShellVarPrefix) - 8

// shellForm is a run: template as sh receives it.
type shellForm struct {
	script string // the command, each ${{ }} replaced by ${KITARU_EXPR_n}
	vars   int    // how many ${{ }} it has
	arith  []bool // the n-th ${{ }} is inside $(( )): its value must be a number; nil: none is
}

// Shell renders a run: command for sh: the script (the command as written,
// each ${{ }} replaced by a variable reference) and the environment
// entries, NAME=value, that give those variables their values. A value is
// formatted as Render formats it.
func (t *Template) Shell(s *Scope) (script string, env []string, err error) {
	if t == nil {
		return "", nil, nil
	}
	if err := t.compiled(); err != nil {
		return "", nil, err
	}
	sh := t.shell
	if sh == nil {
		return "", nil, fmt.Errorf("%s is not a shell command", t.field)
	}
	if sh.vars == 0 {
		return sh.script, nil, nil
	}
	e := t.env(s)
	env = make([]string, 0, sh.vars)
	for _, p := range t.parts {
		if p.expr == nil {
			continue
		}
		v, err := t.run(p.expr, e)
		if err != nil {
			return "", nil, err
		}
		i := len(env)
		text := FormatValue(v)
		what := "${{ " + strings.TrimSpace(p.expr.src) + " }}"
		switch {
		case strings.IndexByte(text, 0) >= 0:
			return "", nil, fmt.Errorf("%s: %s gave text holding a NUL byte, which no shell variable can hold; pass such data through stdin: or a file", t.field, what)
		case len(text) > maxShellValue:
			return "", nil, fmt.Errorf("%s: %s gave %d bytes, more than the %d a value in a command may hold (the most an environment variable can hold on Linux); pass it through stdin: instead", t.field, what, len(text), maxShellValue)
		case sh.arith != nil && sh.arith[i] && !isShellNumber(text):
			return "", nil, fmt.Errorf("%s: %s is inside $(( )), where the shell evaluates its value as arithmetic, but it gave %s, not a whole number; make it one (e.g. int(...)) or move it out of $(( ))", t.field, what, describeValue(v))
		}
		env = append(env, ShellVarPrefix+strconv.Itoa(i+1)+"="+text)
	}
	return sh.script, env, nil
}

// isShellNumber says whether text is an integer sh's arithmetic reads as a
// number, not as a name or an expression (bash evaluates a name's value,
// and array subscripts, recursively: that can run commands).
func isShellNumber(text string) bool {
	s := strings.TrimSpace(text)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits := "0123456789"
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, digits = s[2:], "0123456789abcdefABCDEF"
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(digits, s[i]) < 0 {
			return false
		}
	}
	return true
}

// shellTemplate makes t, the template of a run: field n, a shell command.
// A lazily compiled template gets its shell form, and its errors, when it
// is compiled: a replay need not read the commands of steps it reuses.
func (l *loader) shellTemplate(n *yaml.Node, t *Template) {
	if t.lazy != nil {
		t.lazy.shell = true
		return
	}
	t.shell = l.shellForm(resolve(n), t, "")
}

// shellForm builds t's shell form, reporting each ${{ }} where sh would
// not expand a variable; hint ends each message.
func (l *loader) shellForm(n *yaml.Node, t *Template, hint string) *shellForm {
	if !strings.Contains(t.src, "${{") {
		return &shellForm{script: t.src}
	}
	phs, _, err := scanPlaceholders(t.src)
	if err != nil {
		return &shellForm{script: t.src} // reported, and the flow does not load
	}
	sh := &shellForm{vars: len(phs)}
	var b strings.Builder
	b.Grow(len(t.src) + 8*len(phs))
	last := 0
	for i, ph := range phs {
		b.WriteString(t.src[last:ph.start])
		b.WriteString("${" + ShellVarPrefix)
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteByte('}')
		last = ph.end
	}
	b.WriteString(t.src[last:])
	sh.script = b.String()
	for i, pl := range scanShell(t.src, phs) {
		if pl.ctx == shArith {
			if sh.arith == nil {
				sh.arith = make([]bool, len(phs))
			}
			sh.arith[i] = true
		}
		if msg := pl.problem(t.src, phs, i, func(off int) string {
			p := l.posAt(n, off)
			return fmt.Sprintf("%d:%d", p.Line, p.Col)
		}); msg != "" {
			l.e.add(l.posAt(n, phs[i].start), "%s: %s%s", t.field, msg, hint)
		}
	}
	return sh
}

// shellCtx is how sh reads the place where a ${{ }} stands.
type shellCtx int

const (
	shExpands       shellCtx = iota // unquoted, "…", unquoted heredoc, $( ), `…`, ${ }, a comment
	shArith                         // inside $(( ))
	shSingle                        // inside '…'
	shDollarSingle                  // inside $'…'
	shQuotedHeredoc                 // in the body of <<'EOF', <<"EOF" or <<\EOF
	shEscaped                       // right after a backslash
	shDelimiter                     // the delimiter word of a heredoc
)

// shellPlace is where one ${{ }} stands; open is the offset of the quote
// or heredoc operator that makes it so, close that of a closing single
// quote (0: none).
type shellPlace struct {
	ctx         shellCtx
	open, close int
}

// problem says why a variable would not expand at the i-th placeholder of
// src, and how to write it; "" when it would. at gives an offset's
// position, for the message.
func (p shellPlace) problem(src string, phs []placeholder, i int, at func(off int) string) string {
	ph := "${{ " + strings.TrimSpace(src[phs[i].exprStart:phs[i].exprEnd]) + " }}"
	const safe = "kitaru passes the value as a shell variable, so double quotes are safe"
	switch p.ctx {
	case shSingle:
		example := "'text '\"" + ph + "\""
		if q, ok := quotedExample(src, phs, p.open+1, p.close); ok {
			example = q
		}
		return fmt.Sprintf("%s is inside single quotes (opened at %s), where the shell expands no variables; write it in double quotes instead, e.g. %s (%s)", ph, at(p.open), example, safe)
	case shDollarSingle:
		return fmt.Sprintf("%s is inside $'...' quotes (opened at %s), where the shell expands no variables; end them before it and write it in double quotes, e.g. \"%s\" (%s)", ph, at(p.open), ph, safe)
	case shQuotedHeredoc:
		return fmt.Sprintf("%s is in a here-document with a quoted delimiter (at %s), where the shell expands no variables; write the delimiter unquoted, e.g. <<EOF (kitaru passes the value as a shell variable, so the shell prints it and runs nothing in it)", ph, at(p.open))
	case shEscaped:
		return fmt.Sprintf("the backslash before %s stops the shell from expanding it; remove the backslash", ph)
	case shDelimiter:
		return fmt.Sprintf("%s cannot be a here-document's delimiter; write a fixed word such as EOF", ph)
	}
	return ""
}

// quotedExample rewrites the single-quoted text src[from:to] so that its
// ${{ }} expand: in double quotes when that means the same, else with the
// single quotes ended around each ${{ }}. ok is false when it is too long
// to quote in a message.
func quotedExample(src string, phs []placeholder, from, to int) (string, bool) {
	if to <= from || to-from > 100 {
		return "", false
	}
	var b strings.Builder
	plain := true
	b.WriteByte('\'')
	for i := from; i < to; i++ {
		if k := slices.IndexFunc(phs, func(ph placeholder) bool { return ph.start == i }); k >= 0 {
			b.WriteString(`'"` + src[i:phs[k].end] + `"'`)
			i = phs[k].end - 1
			continue
		}
		if strings.IndexByte("\"$`\\\n", src[i]) >= 0 {
			plain = false
		}
		b.WriteByte(src[i])
	}
	b.WriteByte('\'')
	if plain {
		return "\"" + src[from:to] + "\"", true
	}
	q := strings.TrimSuffix(strings.TrimPrefix(b.String(), "''"), "''")
	return q, true
}

// frameKind is a construct of sh that the scanner is inside.
type frameKind int

const (
	fCmd      frameKind = iota // the command itself
	fSub                       // $( … )
	fBacktick                  // ` … `
	fDouble                    // " … "
	fParam                     // ${ … }
	fArith                     // $(( … ))
	fHeredoc                   // the body of an unquoted heredoc
)

type frame struct {
	kind  frameKind
	depth int // of ( inside $( ) and $(( )), of { inside ${ }
}

// heredoc is one announced here-document whose body starts after the
// next newline.
type heredoc struct {
	delim  string
	strip  bool // <<- strips leading tabs
	quoted bool
	open   int
}

// shellScanner reads a command as sh does, as far as where variables
// expand; it is not a parser and does not report the shell's own syntax
// errors (sh does that). A ${{ }} is one opaque word to it.
type shellScanner struct {
	src    string
	phs    []placeholder
	next   int // the first of phs not reached yet: the scan only moves forward
	places []shellPlace
}

// scanShell says, for each of phs (the ${{ }} of src, in order), how sh
// reads the place where it stands.
func scanShell(src string, phs []placeholder) []shellPlace {
	s := &shellScanner{src: src, phs: phs, places: make([]shellPlace, len(phs))}
	s.scan(0, len(src), fCmd)
	return s.places
}

// at says whether a placeholder starts at i.
func (s *shellScanner) at(i int) bool {
	for s.next < len(s.phs) && s.phs[s.next].start < i {
		s.next++
	}
	return s.next < len(s.phs) && s.phs[s.next].start == i
}

// take records the context of the placeholder at hand (at said so) and
// returns the offset after it.
func (s *shellScanner) take(ctx shellCtx, open int) int {
	s.places[s.next] = shellPlace{ctx: ctx, open: open}
	s.next++
	return s.phs[s.next-1].end
}

// mark takes the placeholder at i, if one starts there.
func (s *shellScanner) mark(i int, ctx shellCtx, open int) (int, bool) {
	if !s.at(i) {
		return i, false
	}
	return s.take(ctx, open), true
}

// skipQuoted scans a '…' or $'…' from i (just after the opening quote) to
// just after its closing quote, marking the placeholders inside.
func (s *shellScanner) skipQuoted(i, end int, ctx shellCtx, open int, escapes bool) int {
	first := s.next
	for i < end {
		if j, ok := s.mark(i, ctx, open); ok {
			i = j
			continue
		}
		switch s.src[i] {
		case '\\':
			if escapes {
				i++
			}
		case '\'':
			for k := first; k < s.next; k++ {
				s.places[k].close = i
			}
			return i + 1
		}
		i++
	}
	return end
}

func cmdLike(k frameKind) bool { return k == fCmd || k == fSub || k == fBacktick }

// scan reads src[from:to] starting inside base.
func (s *shellScanner) scan(from, to int, base frameKind) {
	src := s.src
	stack := []frame{{kind: base}}
	var pending []heredoc
	prev := byte('\n') // the last byte read; a # after a blank starts a comment
	i := from
	for i < to {
		top := &stack[len(stack)-1]
		if s.at(i) {
			i, prev = s.take(s.here(stack), 0), 'x'
			continue
		}
		c := src[i]
		next := byte(0)
		if i+1 < to {
			next = src[i+1]
		}
		i++
		switch {
		case c == '\\':
			escapable := true
			switch top.kind {
			case fDouble:
				escapable = strings.IndexByte("$`\"\\\n", next) >= 0
			case fHeredoc:
				escapable = strings.IndexByte("$`\\\n", next) >= 0
			case fBacktick:
				if next == '$' {
					// `…\$…` is $ once the backquotes are read.
					escapable = false
				}
			}
			if !escapable {
				break
			}
			if j, ok := s.mark(i, shEscaped, i-1); ok {
				i = j
			} else if i < to {
				i++
			}
		case c == '\'' && (cmdLike(top.kind) || top.kind == fArith || top.kind == fParam && !s.inDouble(stack)):
			i = s.skipQuoted(i, to, shSingle, i-1, false)
		case c == '"' && top.kind != fHeredoc:
			if top.kind == fDouble {
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, frame{kind: fDouble})
			}
		case c == '`':
			if top.kind == fBacktick {
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, frame{kind: fBacktick})
			}
		case c == '$' && next == '\'' && (cmdLike(top.kind) || top.kind == fParam && !s.inDouble(stack)):
			i = s.skipQuoted(i+1, to, shDollarSingle, i-1, true)
		case c == '$' && next == '(' && i+1 < to && src[i+1] == '(':
			stack = append(stack, frame{kind: fArith})
			i += 2
		case c == '$' && next == '(':
			stack = append(stack, frame{kind: fSub})
			i++
		case c == '$' && next == '{':
			stack = append(stack, frame{kind: fParam})
			i++
		case c == '(' && (top.kind == fSub || top.kind == fArith):
			top.depth++
		case c == ')' && (top.kind == fSub || top.kind == fArith):
			switch {
			case top.depth > 0:
				top.depth--
			case top.kind == fArith && next == ')':
				stack = stack[:len(stack)-1]
				i++
			default:
				stack = stack[:len(stack)-1]
			}
		case c == '{' && top.kind == fParam:
			top.depth++
		case c == '}' && top.kind == fParam:
			if top.depth > 0 {
				top.depth--
			} else {
				stack = stack[:len(stack)-1]
			}
		case c == '#' && cmdLike(top.kind) && strings.IndexByte(" \t\n;&|()<>`", prev) >= 0:
			// A comment: nothing in it runs or expands.
			for i < to && src[i] != '\n' {
				if j, ok := s.mark(i, shExpands, 0); ok {
					i = j
					continue
				}
				i++
			}
			c = ' '
		case c == '<' && next == '<' && cmdLike(top.kind):
			if i+1 < to && src[i+1] == '<' {
				i += 2 // <<< is a here-string: an ordinary word follows
				break
			}
			var h heredoc
			h, i = s.heredocWord(i-1, to)
			pending = append(pending, h)
		case c == '\n' && len(pending) > 0 && cmdLike(top.kind):
			for _, h := range pending {
				i = s.heredocBody(h, i, to)
			}
			pending = pending[:0]
		}
		prev = c
		if len(stack) == 0 {
			// More closings than openings: sh will say so; read on.
			stack = append(stack, frame{kind: base})
		}
	}
}

// inDouble says whether the innermost quoting around a ${ } is "…" (or an
// unquoted heredoc), where a ' inside it is an ordinary character.
func (s *shellScanner) inDouble(stack []frame) bool {
	for k := len(stack) - 1; k >= 0; k-- {
		switch stack[k].kind {
		case fDouble, fHeredoc:
			return true
		case fParam:
		default:
			return false
		}
	}
	return false
}

// here is how a ${{ }} at the top of stack is read: as arithmetic when the
// nearest construct around it that is not quoting is $(( )).
func (s *shellScanner) here(stack []frame) shellCtx {
	for k := len(stack) - 1; k >= 0; k-- {
		switch stack[k].kind {
		case fArith:
			return shArith
		case fDouble, fParam:
		default:
			return shExpands
		}
	}
	return shExpands
}

// heredocWord reads a heredoc operator at op (<< or <<-) and its delimiter
// word, returning the heredoc and where the word ends.
func (s *shellScanner) heredocWord(op, to int) (heredoc, int) {
	src := s.src
	h := heredoc{open: op}
	i := op + 2
	if i < to && src[i] == '-' {
		h.strip = true
		i++
	}
	for i < to && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	var w strings.Builder
	var quote byte
	for i < to {
		if j, ok := s.mark(i, shDelimiter, op); ok {
			i = j
			continue
		}
		c := src[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, h.quoted = c, true
		case c == '\\' && i+1 < to:
			h.quoted = true
			i++
			w.WriteByte(src[i])
		case strings.IndexByte(" \t\n;&|<>()", c) >= 0:
			h.delim = w.String()
			return h, i
		default:
			w.WriteByte(c)
		}
		i++
	}
	h.delim = w.String()
	return h, i
}

// heredocBody finds the body of h, which starts at from, marks the
// placeholders in it, and returns where the line after its delimiter
// starts. sh finds the delimiter line before it expands anything in the
// body, and so does this.
func (s *shellScanner) heredocBody(h heredoc, from, to int) int {
	src := s.src
	end, next := to, to
	for ls := from; ls < to; {
		le := strings.IndexByte(src[ls:to], '\n')
		if le < 0 {
			le = to
		} else {
			le += ls
		}
		line := src[ls:le]
		if h.strip {
			line = strings.TrimLeft(line, "\t")
		}
		if line == h.delim && !s.inPlaceholder(ls) {
			end, next = ls, min(le+1, to)
			break
		}
		ls = le + 1
	}
	if h.quoted {
		for i := from; i < end; i++ {
			if j, ok := s.mark(i, shQuotedHeredoc, h.open); ok {
				i = j - 1
			}
		}
	} else {
		s.scan(from, end, fHeredoc)
	}
	return next
}

// inPlaceholder says whether offset i is inside a ${{ }}.
func (s *shellScanner) inPlaceholder(i int) bool {
	for _, ph := range s.phs {
		if i > ph.start && i < ph.end {
			return true
		}
	}
	return false
}
