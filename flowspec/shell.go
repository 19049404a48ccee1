package flowspec

import (
	"fmt"
	"regexp"
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
// backslash) and to find those where sh evaluates the value as arithmetic
// and which must therefore be a number: $(( )) in any sh, and in bash
// (macOS's and Fedora's sh) also (( )), $[ ], let, array subscripts,
// ${v:offset:length} and the operands of [[ a -eq b ]], since bash
// evaluates the names and subscripts in such a value, running the $( ) in
// a[$(…)].

// ShellVarPrefix starts the names of the variables that carry a run:
// command's ${{ }} values; env: may not use it.
const ShellVarPrefix = "KITARU_EXPR_"

// maxShellValue is the most a value may hold: Linux refuses to start a
// command with an environment string over 128 KiB (MAX_ARG_STRLEN), and
// the same limit everywhere keeps a flow portable.
const maxShellValue = 128<<10 - 1 - len(ShellVarPrefix) - 8

// shellForm is a run: template as sh receives it.
type shellForm struct {
	script string   // the command, each ${{ }} replaced by ${KITARU_EXPR_n}
	vars   int      // how many ${{ }} it has
	arith  []string // where the n-th ${{ }} is arithmetic, say "$(( ))": its value must be a number; "": it is not; nil: none is
	// doesArith: the command has arithmetic anywhere, so a value may reach
	// it by a path the scanner does not follow (a copy, read, a function):
	// values that hold a subscript running a command are refused.
	doesArith bool
}

// arithSyntax finds what may make bash evaluate arithmetic in a command:
// $(( )), (( )), $[ ], let, [[ ]], integer declarations, a[…] and the
// offsets of ${v:off:len}. It
// errs on the side of finding some: it only turns on a check of values.
var arithSyntax = regexp.MustCompile(`\(\(|\$\[|\blet\b|\[\[|\b(declare|typeset|local|readonly|export)\b|[A-Za-z0-9_}]\[|\bmapfile\b|\breadarray\b|\$\{#?[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?:[^-=?+]`)

// runningSubscript finds an array subscript holding a command substitution,
// a[$(cmd)] or a[`cmd`]: bash runs the command when such text is evaluated
// as arithmetic, however the text got there.
var runningSubscript = regexp.MustCompile("\\[[^\\]]*(\\$\\(|`)")

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
		case sh.arith != nil && sh.arith[i] != "" && !isShellNumber(text):
			where := sh.arith[i] + ", where the shell evaluates its value as arithmetic"
			if strings.HasPrefix(sh.arith[i], "assigned") {
				where = sh.arith[i]
			}
			return "", nil, fmt.Errorf("%s: %s is %s, but it gave %s, not a whole number; make it one (e.g. int(...)) or move it out of the arithmetic", t.field, what, where, describeValue(v))
		case sh.doesArith && runningSubscript.MatchString(text):
			return "", nil, fmt.Errorf("%s: %s gave %s, which holds an array subscript that runs a command, and this command does arithmetic: bash (sh on macOS, Fedora, RHEL and Arch) runs that command wherever the value meets arithmetic, however it got there; make the value a number (e.g. int(...)), or keep it out of a command that does arithmetic", t.field, what, describeValue(v))
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
	sh := &shellForm{vars: len(phs), doesArith: arithSyntax.MatchString(t.src)}
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
				sh.arith = make([]string, len(phs))
			}
			sh.arith[i] = pl.arith
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
	shArith                         // where sh or bash evaluates it as arithmetic ($(( )), (( )), a[…], …)
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
	arith       string // for shArith: where, as in "inside $(( ))"
}

// problem says why a variable would not expand at the i-th placeholder of
// src, and how to write it; "" when it would. at gives an offset's
// position, for the message.
func (p shellPlace) problem(src string, phs []placeholder, i int, at func(off int) string) string {
	ph := "${{ " + strings.TrimSpace(src[phs[i].exprStart:phs[i].exprEnd]) + " }}"
	const safe = "kitaru passes the value as a shell variable, so the shell runs nothing in it"
	switch p.ctx {
	case shSingle, shDollarSingle:
		quotes, from := "single quotes", p.open+1
		if p.ctx == shDollarSingle {
			quotes, from = "$'...' quotes", p.open+2
		}
		cmd := commandName(src, p.open)
		lead := fmt.Sprintf("%s is inside %s (opened at %s), where the shell expands no variables", ph, quotes, at(p.open))
		if cmd == "echo" {
			// Text echo prints: the one case where the value may join it.
			if p.ctx == shDollarSingle {
				return fmt.Sprintf("%s; end them before it and write it in double quotes, e.g. \"%s\" (%s)", lead, ph, safe)
			}
			example := "'text '\"" + ph + "\""
			if q, ok := quotedExample(src, phs, from, p.close); ok {
				example = q
			}
			return fmt.Sprintf("%s; write it in double quotes instead, e.g. %s (%s)", lead, example, safe)
		}
		return lead + "; " + programAdvice(cmd, ph, src, phs, from, p.close)
	case shQuotedHeredoc:
		if cmd := commandName(src, p.open); cmd != "cat" {
			return fmt.Sprintf("%s is in a here-document with a quoted delimiter (at %s), where the shell expands no variables; the here-document is what %s reads, and if that is code (a script, SQL), a value written into it is code too and %s runs it: pass the value as an argument (e.g. python3 - \"%s\" <<'EOF', reading sys.argv[1]) or through the step's env: instead; only if %s reads it as plain text, write the delimiter unquoted, e.g. <<EOF", ph, at(p.open), orCommand(cmd), orCommand(cmd), ph, orCommand(cmd))
		}
		return fmt.Sprintf("%s is in a here-document with a quoted delimiter (at %s), where the shell expands no variables; write the delimiter unquoted, e.g. <<EOF (%s)", ph, at(p.open), safe)
	case shEscaped:
		return fmt.Sprintf("the backslash before %s stops the shell from expanding it; remove the backslash", ph)
	case shDelimiter:
		return fmt.Sprintf("%s cannot be a here-document's delimiter; write a fixed word such as EOF", ph)
	}
	return ""
}

// orCommand names cmd, or "the command" when it is not known.
func orCommand(cmd string) string {
	if cmd == "" {
		return "the command"
	}
	return cmd
}

// programAdvice says how to give a value to cmd, whose single-quoted
// argument src[from:to] is, unless cmd is known to print text, code for
// it: a value spliced into it would be code too (awk's system(), SQL).
func programAdvice(cmd, ph, src string, phs []placeholder, from, to int) string {
	name, dq := orCommand(cmd), "\""+ph+"\""
	code := fmt.Sprintf("the quoted text is what %s reads, and if it is code (a jq filter, an awk or sed program, SQL, a script), a value written into it is code too and %s runs it", name, name)
	switch cmd {
	case "jq", "gojq":
		return fmt.Sprintf("the quoted text is a %s filter, and a value written into it is code %s runs: pass it as a variable of %s, e.g. %s --arg v %s '... $v ...'", cmd, cmd, cmd, cmd, dq)
	case "awk", "gawk", "mawk", "nawk":
		return fmt.Sprintf("the quoted text is an awk program, and a value written into it is code %s runs (system(...)): pass it as an awk variable, e.g. %s -v v=%s '... v ...'", cmd, cmd, dq)
	case "sed":
		return fmt.Sprintf("the quoted text is a sed program, and a value written into it is code sed runs (sed's w and e commands): sed has no variables, so do it another way, e.g. with replace(...) in a ${{ }}, or awk -v v=%s", dq)
	case "printf":
		return fmt.Sprintf("the quoted text is printf's format, which reads %% in a value: pass it as an argument, e.g. printf '... %%s ...' %s", dq)
	case "sqlite3", "psql", "mysql", "duckdb":
		return fmt.Sprintf("the quoted text is SQL, and a value written into it is SQL %s runs: use the client's query parameters (or pass the value through stdin:)", cmd)
	case "sh", "bash", "dash", "zsh", "ksh":
		return fmt.Sprintf("the quoted text is a %s script, and a value written into it is code %s runs: pass it as an argument, e.g. %s -c '... \"$1\" ...' sh %s", cmd, cmd, cmd, dq)
	case "eval", "ssh":
		return fmt.Sprintf("%s runs the quoted text as shell code, and a value written into it is code too: keep the value out of it, e.g. set -- %s; %s '... \"$1\" ...' (for ssh, pass the value on stdin:)", cmd, dq, cmd)
	case "python", "python3", "node", "perl", "ruby":
		return fmt.Sprintf("the quoted text is a %s program, and a value written into it is code %s runs: pass it as an argument after the program (or through the step's env:) and read it there", cmd, cmd)
	}
	advice := fmt.Sprintf("%s: pass the value to it as data instead, e.g. jq --arg v %s '... $v ...', awk -v v=%s '... v ...', a query parameter for SQL", code, dq, dq)
	if plain, ok := quotedExample(src, phs, from, to); ok && strings.HasPrefix(plain, "\"") {
		advice += fmt.Sprintf("; only if %s takes it as plain text, write it in double quotes, e.g. %s", name, plain)
	}
	return advice
}

// commandName is the name of the simple command that the text at off is
// part of, found by reading back to the last ; & | ( ` or newline and
// skipping keywords and assignments; "" when there is none. It reads no
// quoting: a wrong name only changes a message's advice.
func commandName(src string, off int) string {
	start := strings.LastIndexAny(src[:off], "\n;&|(`") + 1
	words := strings.Fields(src[start:off])
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "then" || w == "do" || w == "else" || w == "elif" || w == "if" || w == "while" || w == "until" || w == "!" || w == "time" || w == "{" || w == "exec" || w == "command":
		case strings.IndexByte(w, '=') > 0 && isParamName(w[:strings.IndexByte(w, '=')]):
		case isWrapper(w):
			// A command that runs the next one (timeout 5 sh -c '…'):
			// the quoted text is what that one reads. Its options, and
			// the words it takes before the command, are skipped.
			skip := wrappers[w]
			for i+1 < len(words) && (strings.HasPrefix(words[i+1], "-") || skip > 0) {
				if opt := words[i+1]; !strings.HasPrefix(opt, "-") {
					skip--
				} else if strings.Contains(" "+optionArgs[w]+" ", " "+opt+" ") {
					i++ // the option's own argument
				}
				i++
			}
		default:
			if piped := pipedInto(src, off); piped != "" && (w == "echo" || w == "printf" || w == "cat") {
				return piped // echo '…' | sh: the text is sh's code
			}
			return w
		}
	}
	return ""
}

func isWrapper(w string) bool {
	_, ok := wrappers[w]
	return ok
}

// wrappers are commands that run the command after them, with how many
// words that are not options they take first (timeout's duration).
var wrappers = map[string]int{
	"timeout": 1, "nice": 0, "nohup": 0, "sudo": 0, "doas": 0, "env": 0, "xargs": 0,
	"stdbuf": 0, "setsid": 0, "ionice": 0, "chronic": 0, "flock": 1, "watch": 0, "strace": 0,
}

// optionArgs are the options of wrappers that take the next word.
var optionArgs = map[string]string{
	"timeout": "-s -k --signal --kill-after", "nice": "-n --adjustment", "sudo": "-u -g -C -D",
	"xargs": "-I -i -n -P -d -L -s -a -E", "ionice": "-c -n -p", "flock": "-w -E",
	"env": "-u -C -S --unset --chdir",
}

// pipedInto is the command the text at off is piped into on its line, when
// that command reads its input as code (echo '…' | sh); "" otherwise.
func pipedInto(src string, off int) string {
	rest := src[off:]
	if end := strings.IndexAny(rest, "\n;&"); end >= 0 {
		rest = rest[:end]
	}
	for {
		bar := strings.IndexByte(rest, '|')
		if bar < 0 {
			return ""
		}
		rest = rest[bar+1:]
		if f := strings.Fields(rest); len(f) > 0 && interpreters[f[0]] {
			return f[0]
		}
	}
}

// interpreters read their input or their quoted argument as code.
var interpreters = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "eval": true, "ssh": true,
	"python": true, "python3": true, "node": true, "perl": true, "ruby": true, "php": true,
	"sqlite3": true, "psql": true, "mysql": true, "duckdb": true, "awk": true, "jq": true,
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
	fCmd       frameKind = iota // the command itself
	fSub                        // $( … )
	fBacktick                   // ` … `
	fDouble                     // " … "
	fParam                      // ${ … }
	fArith                      // $(( … )), or bash's (( … ))
	fHeredoc                    // the body of an unquoted heredoc
	fArithB                     // bash's $[ … ]
	fSubscript                  // bash's array subscript: the … of a[…]
	fLet                        // the arguments of bash's let, to the end of the command
	fCond                       // bash's [[ … ]]
)

type frame struct {
	kind  frameKind
	depth int        // of ( inside $( ) and $(( )), of { inside ${ }, of [ inside $[ ] and a[ ]
	what  string     // arithmetic kinds: where a value is evaluated, as a message says it; fParam: set once ${v: starts an offset
	start int        // fParam: where the name starts
	cond  *condWords // fCond
}

// condWords are the words of a [[ … ]], read to learn which ${{ }} are
// operands of -eq and its kin, which bash evaluates as arithmetic.
type condWords struct {
	words []string
	cur   []byte
	phs   [][2]int // a placeholder's index and the index of its word
}

func (c *condWords) endWord() {
	if len(c.cur) > 0 {
		c.words = append(c.words, string(c.cur))
		c.cur = c.cur[:0]
	}
}

// closeCond marks the ${{ }} of a [[ … ]] that stand in an operand of an
// arithmetic comparison.
func (s *shellScanner) closeCond(c *condWords) {
	c.endWord()
	for _, p := range c.phs {
		for _, w := range []int{p[1] - 1, p[1] + 1} {
			if w < 0 || w >= len(c.words) {
				continue
			}
			switch op := c.words[w]; op {
			case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
				s.places[p[0]].ctx = shArith
				s.places[p[0]].arith = "an operand of " + op + " in [[ ]]"
			}
		}
	}
	for w, op := range c.words {
		switch op {
		case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
			for _, n := range []int{w - 1, w + 1} {
				if n >= 0 && n < len(c.words) {
					s.arith = append(append(s.arith, ' '), c.words[n]...)
				}
			}
		}
	}
	c.phs = nil
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isParamName says whether w, the text after ${, names a parameter (a
// name, a number or a special parameter, perhaps with a subscript), so
// that a : after it starts bash's ${v:offset:length}.
func isParamName(w string) bool {
	if k := strings.IndexByte(w, '['); k > 0 && strings.HasSuffix(w, "]") {
		w = w[:k]
	}
	if len(w) == 1 && strings.IndexByte("@*#?$!-", w[0]) >= 0 {
		return true
	}
	if w == "" || '0' <= w[0] && w[0] <= '9' && strings.Trim(w, "0123456789") != "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isNameByte(w[i]) {
			return false
		}
	}
	return true
}

// commandStart says whether a word starting at i is a command's name:
// first in the command line, after ; & | ( ` { or a newline, or after a
// keyword such as then or !.
func commandStart(src string, i int) bool {
	for {
		j := i
		for j > 0 && (src[j-1] == ' ' || src[j-1] == '\t') {
			j--
		}
		if j == 0 || strings.IndexByte("\n;&|(`{", src[j-1]) >= 0 {
			return true
		}
		k := j
		for k > 0 && (isNameByte(src[k-1]) || src[k-1] == '!') {
			k--
		}
		switch src[k:j] {
		case "then", "do", "else", "elif", "if", "while", "until", "!", "time":
			i = k
		default:
			return false
		}
	}
}

// arithLike says whether single quotes quote inside k as on a command line.
func arithLike(k frameKind) bool {
	return k == fArith || k == fArithB || k == fSubscript || k == fLet || k == fCond
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
	arith  []byte // the text sh or bash evaluates as arithmetic, for the names in it
}

// scanShell says, for each of phs (the ${{ }} of src, in order), how sh
// reads the place where it stands.
func scanShell(src string, phs []placeholder) []shellPlace {
	s := &shellScanner{src: src, phs: phs, places: make([]shellPlace, len(phs))}
	s.scan(0, len(src), fCmd)
	s.assigned()
	return s.places
}

var (
	// assignment is NAME= (or NAME+=) and the start of its value, as text
	// before a ${{ }}.
	assignment = regexp.MustCompile(`(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)\+?=["']?[^\s"'$;&|()]*$`)
	// integerDecl declares variables with bash's integer attribute, whose
	// every assignment bash evaluates as arithmetic.
	integerDecl = regexp.MustCompile(`(?:declare|typeset|local)((?:\s+-[A-Za-z]+)*\s+-[A-Za-z]*i[A-Za-z]*(?:\s+-[A-Za-z]+)*)((?:\s+[A-Za-z_][A-Za-z0-9_]*(?:=\S*)?)+)`)
	nameRE      = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// assigned marks a ${{ }} assigned to a variable (n=${{ x }}) that the
// command uses in arithmetic ((( n > 1 )), $(( $n )), [[ $n -eq 1 ]]) or
// declares an integer (declare -i n): bash evaluates the variable's value
// there as it would the ${{ }}'s own. This reads names, not data flow: a
// value that reaches arithmetic another way (through a function's
// arguments, another variable, a command's output) is not seen.
func (s *shellScanner) assigned() {
	var names map[string]bool
	for i, ph := range s.phs {
		if s.places[i].ctx != shExpands {
			continue
		}
		m := assignment.FindStringSubmatch(s.src[:ph.start])
		if m == nil {
			continue
		}
		if names == nil {
			names = map[string]bool{}
			for _, n := range nameRE.FindAllString(string(s.arith), -1) {
				names[n] = true
			}
			for _, d := range integerDecl.FindAllStringSubmatch(s.src, -1) {
				for _, w := range strings.Fields(d[2]) {
					n, _, _ := strings.Cut(w, "=")
					names[n] = true
				}
			}
		}
		if names[m[1]] {
			s.places[i].ctx = shArith
			s.places[i].arith = "assigned to " + m[1] + ", whose value the shell evaluates as arithmetic where the command uses " + m[1]
		}
	}
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
			ctx, what, cond := s.here(stack)
			n := s.next
			i, prev = s.take(ctx, 0), '}'
			s.places[n].arith = what
			if cond != nil {
				cond.phs = append(cond.phs, [2]int{n, len(cond.words)})
				if top.kind == fCond {
					cond.cur = append(cond.cur, 'x')
				}
			}
			continue
		}
		c := src[i]
		next := byte(0)
		if i+1 < to {
			next = src[i+1]
		}
		if top.kind == fLet && (strings.IndexByte(";\n&|)`", c) >= 0 || c == '#' && (prev == ' ' || prev == '\t')) {
			// The command let evaluates ends; c belongs to what is around it.
			stack = stack[:len(stack)-1]
			top = &stack[len(stack)-1]
		}
		if ctx, _, _ := s.here(stack); ctx == shArith {
			s.arith = append(s.arith, c)
		}
		if top.kind == fCond {
			if strings.IndexByte(" \t\n()!&|<>", c) >= 0 {
				top.cond.endWord()
			} else if !(c == ']' && next == ']') {
				top.cond.cur = append(top.cond.cur, c)
			}
		}
		i++
		switch {
		case c == '$' && next == '[':
			stack = append(stack, frame{kind: fArithB, what: "inside $[ ]"})
			i++
		case c == '[' && next == '[' && cmdLike(top.kind) && i+1 < to && (src[i+1] == ' ' || src[i+1] == '\t') && commandStart(src, i-1):
			stack = append(stack, frame{kind: fCond, cond: &condWords{}})
			i++
		case c == ']' && next == ']' && top.kind == fCond && (prev == ' ' || prev == '\t'):
			s.closeCond(top.cond)
			stack = stack[:len(stack)-1]
			i++
		case c == '[' && isNameByte(prev) && (cmdLike(top.kind) || top.kind == fParam || top.kind == fCond):
			stack = append(stack, frame{kind: fSubscript, what: "in an array subscript"})
		case c == '[' && (top.kind == fSubscript || top.kind == fArithB):
			top.depth++
		case c == ']' && (top.kind == fSubscript || top.kind == fArithB):
			if top.depth > 0 {
				top.depth--
			} else {
				stack = stack[:len(stack)-1]
			}
		case c == '(' && next == '(' && cmdLike(top.kind):
			stack = append(stack, frame{kind: fArith, what: "inside (( ))"})
			i++
		case c == 'l' && cmdLike(top.kind) && strings.HasPrefix(src[i-1:to], "let") && i+2 < to && (src[i+2] == ' ' || src[i+2] == '\t') && commandStart(src, i-1):
			stack = append(stack, frame{kind: fLet, what: "an argument of let"})
			i += 2
		case c == ':' && top.kind == fParam && top.what == "" && strings.IndexByte("-=?+", next) < 0 && isParamName(src[top.start:i-1]):
			top.what = "in the offset or length of ${v:offset:length}"
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
		case c == '\'' && (cmdLike(top.kind) || arithLike(top.kind) || top.kind == fParam && !s.inDouble(stack)):
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
			stack = append(stack, frame{kind: fArith, what: "inside $(( ))"})
			i += 2
		case c == '$' && next == '(':
			stack = append(stack, frame{kind: fSub})
			i++
		case c == '$' && next == '{':
			i++
			stack = append(stack, frame{kind: fParam, start: i})
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
	for _, f := range stack {
		if f.kind == fCond {
			s.closeCond(f.cond) // an unclosed [[: bash will say so
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
// nearest construct around it that is not quoting is arithmetic (what says
// which), and cond is the [[ ]] it stands in, if it stands in a word of one.
func (s *shellScanner) here(stack []frame) (ctx shellCtx, what string, cond *condWords) {
	for k := len(stack) - 1; k >= 0; k-- {
		switch f := stack[k]; f.kind {
		case fArith, fArithB, fSubscript, fLet:
			return shArith, f.what, nil
		case fParam:
			if f.what != "" {
				return shArith, f.what, nil
			}
		case fDouble:
		case fCond:
			return shExpands, "", f.cond
		default:
			return shExpands, "", nil
		}
	}
	return shExpands, "", nil
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
