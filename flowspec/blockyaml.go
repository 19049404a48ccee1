package flowspec

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseBlockYAML reads the plain block style most flow files are written in
// (mappings and sequences by indentation; plain, quoted and literal |
// scalars on their own lines; one-line [a, b] and {k: v}; comments) into the
// same node tree yaml.v3 builds, in a fraction of its time. Anything else
// (anchors, tags, folded or multi-line scalars, escapes, tabs, a value it
// cannot type with certainty...) makes it give up (ok false) and the caller
// uses yaml.v3, which also reports every error. FuzzBlockYAML checks that
// whenever it answers, its tree is yaml.v3's. Comments are skipped, not
// kept: the loader does not read them.
func parseBlockYAML(data []byte) (doc *yaml.Node, ok bool) {
	doc, _, ok = parseBlock(data, false, false)
	return doc, ok
}

// parseBlock is parseBlockYAML for data already known to be plain ASCII
// without tabs or carriage returns when plain is set (see scanText). With
// deferSteps, the bodies of the top-level steps: mapping's steps are not
// read yet: each is a node that p.body reads when the loader comes to it,
// into memory the next body reuses (a long flow's step bodies were most
// of what loading it allocated).
func parseBlock(data []byte, plain, deferSteps bool) (doc *yaml.Node, p *blockParser, ok bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' || !plain && !printable(data) || hasDocumentMarker(data) {
		return nil, nil, false
	}
	p = &blockParser{lines: strings.Split(string(data), "\n"), deferSteps: deferSteps}
	p.skip()
	if p.i >= len(p.lines) || indentOf(p.lines[p.i]) != 0 {
		return nil, nil, false
	}
	root := p.mapping(0, 0)
	p.skip()
	if p.failed || p.i < len(p.lines) || root == nil {
		return nil, nil, false
	}
	return &yaml.Node{Kind: yaml.DocumentNode, Line: root.Line, Column: root.Column, Content: []*yaml.Node{root}}, p, true
}

// span is a deferred step body: its lines from start, its keys at column
// indent, and end, the line after it that is not blank or a comment.
type span struct{ start, end, indent int }

// body reads the deferred step body n; ok is false when n is none or the
// quick reader cannot read it (yaml.v3 must read the whole file then).
// The nodes of the body read before are reused: it is no longer valid.
func (p *blockParser) body(n *yaml.Node) (_ *yaml.Node, ok bool) {
	sp, found := p.deferred[n]
	if !found {
		return nil, false
	}
	if p.bodyNodes == nil {
		p.bodyNodes, p.bodyKids = make([]yaml.Node, 64), make([]*yaml.Node, 64)
	}
	p.slab, p.kids = p.bodyNodes, p.bodyKids
	p.i, p.failed, p.depth = sp.start, false, 0
	m := p.mapping(sp.indent, -1)
	p.skip()
	if p.failed || m == nil || p.i != sp.end {
		return nil, false
	}
	return m, true
}

// isDeferred says whether n is a step body left for body.
func (p *blockParser) isDeferred(n *yaml.Node) bool {
	if p == nil {
		return false
	}
	_, ok := p.deferred[n]
	return ok
}

// deferBody leaves the block mapping whose first key is on line first
// (the body of the step whose key, at column keyIndent, is on line p.i)
// for body to read, and moves p.i past it.
func (p *blockParser) deferBody(keyIndent, first int) *yaml.Node {
	in := indentOf(p.lines[first])
	end := first + 1
	for end < len(p.lines) {
		t := strings.TrimLeft(p.lines[end], " ")
		if t != "" && t[0] != '#' && indentOf(p.lines[end]) <= keyIndent {
			break
		}
		end++
	}
	n := p.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: first + 1, Column: col(p.lines[first], in)})
	if p.deferred == nil {
		// A step takes a few lines: a guess that rarely grows.
		p.deferred = make(map[*yaml.Node]span, len(p.lines)/3)
	}
	p.deferred[n] = span{start: first, end: end, indent: in}
	p.i = end
	return n
}

// stepValue is value for a step of the steps: mapping whose key, at
// column indent, ends its line: a body of more indented lines right below
// it is deferred (see deferBody); anything else is read as value reads it.
func (p *blockParser) stepValue(indent int, line string, rest int) *yaml.Node {
	if next := p.i + 1; next < len(p.lines) {
		l := p.lines[next]
		if in := indentOf(l); in > indent && in < len(l) && l[in] != '#' && !strings.HasPrefix(l[in:], "-") {
			return p.deferBody(indent, next)
		}
	}
	return p.value(indent, line, rest)
}

// hasDocumentMarker says whether a line may start with --- or ..., which
// may end a YAML document or start another.
func hasDocumentMarker(data []byte) bool {
	if bytes.IndexByte(data, '\r') >= 0 || bytes.Contains(data, []byte("\u0085")) ||
		bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		// Line breaks other than \n: look for the markers anywhere.
		return bytes.Contains(data, []byte("---")) || bytes.Contains(data, []byte("..."))
	}
	return bytes.HasPrefix(data, []byte("---")) || bytes.HasPrefix(data, []byte("...")) ||
		bytes.Contains(data, []byte("\n---")) || bytes.Contains(data, []byte("\n..."))
}

// maxBlockFlowDepth is how deeply the quick reader nests [ ] and { }.
const maxBlockFlowDepth = 32

type blockParser struct {
	lines  []string
	i      int // the current line
	failed bool
	depth  int          // flow collections open: see maxBlockFlowDepth
	slab   []yaml.Node  // nodes are handed out from here, not one by one
	kids   []*yaml.Node // and mappings' first children

	// deferSteps: the bodies of the steps are left for body (see
	// parseBlock); deferred holds where each is, bodyNodes and bodyKids
	// the memory each body read reuses; inSteps is set while the
	// top-level steps: mapping is read.
	deferSteps bool
	deferred   map[*yaml.Node]span
	bodyNodes  []yaml.Node
	bodyKids   []*yaml.Node
	inSteps    bool
}

// node returns a new node holding n.
func (p *blockParser) node(n yaml.Node) *yaml.Node {
	if len(p.slab) == 0 {
		p.slab = make([]yaml.Node, 256)
	}
	out := &p.slab[0]
	*out = n
	p.slab = p.slab[1:]
	return out
}

func (p *blockParser) fail() *yaml.Node {
	p.failed = true
	return nil
}

// skip moves past blank lines and comment lines.
func (p *blockParser) skip() {
	for p.i < len(p.lines) {
		t := strings.TrimLeft(p.lines[p.i], " ")
		if t != "" && t[0] != '#' {
			return
		}
		p.i++
	}
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// col is the 1-based column of byte offset off of line, in characters.
func col(line string, off int) int { return utf8.RuneCountInString(line[:off]) + 1 }

// mapping reads a block mapping whose keys sit at column indent. first,
// when set, is where its first key starts on the current line (after a
// sequence's "- ").
func (p *blockParser) mapping(indent int, first int) *yaml.Node {
	if len(p.kids) < 4 {
		p.kids = make([]*yaml.Node, 1024)
	}
	// Room for two pairs, the most a step's mapping mostly has; append
	// moves a longer one out.
	m := p.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: p.kids[:0:4]})
	p.kids = p.kids[4:]
	start := first
	for !p.failed {
		if start < 0 {
			p.skip()
			if p.i >= len(p.lines) {
				break
			}
			line := p.lines[p.i]
			in := indentOf(line)
			if in < indent || in == indent && strings.HasPrefix(line[in:], "-") {
				break
			}
			if in > indent {
				return p.fail()
			}
			start = in
		}
		line := p.lines[p.i]
		key, rest, ok := keyAt(line, start)
		if !ok {
			return p.fail()
		}
		if len(m.Content) == 0 {
			m.Line, m.Column = p.i+1, col(line, start)
		}
		k := p.node(yaml.Node{Kind: yaml.ScalarNode, Value: key, Line: p.i + 1, Column: col(line, start)})
		if k.Tag, ok = plainTag(key); !ok {
			return p.fail()
		}
		var v *yaml.Node
		switch inSteps := p.inSteps; {
		case inSteps && rest == len(line):
			p.inSteps = false
			v = p.stepValue(indent, line, rest)
			p.inSteps = true
		case p.deferSteps && indent == 0 && key == "steps" && rest == len(line):
			p.inSteps = true
			v = p.value(indent, line, rest)
			p.inSteps = false
		default:
			p.inSteps = false
			v = p.value(indent, line, rest)
			p.inSteps = inSteps
		}
		if v == nil {
			return p.fail()
		}
		m.Content = append(m.Content, k, v)
		start = -1
	}
	if len(m.Content) == 0 {
		return p.fail()
	}
	return m
}

// keyAt reads a plain key at offset start of line, followed by ':'. rest is
// the offset just after the colon.
func keyAt(line string, start int) (string, int, bool) {
	j := start
	for j < len(line) && (isIdentByte(line[j]) || line[j] == '-' && j > start) {
		j++
	}
	if j == start || j-start > 200 || j >= len(line) || line[j] != ':' || j+1 < len(line) && line[j+1] != ' ' {
		return "", 0, false
	}
	return line[start:j], j + 1, true
}

// value reads what follows a key's colon at offset rest of line, the key's
// mapping being at indent; it leaves p.i after the value.
func (p *blockParser) value(indent int, line string, rest int) *yaml.Node {
	j := rest
	for j < len(line) && line[j] == ' ' {
		j++
	}
	if j == len(line) {
		if j != rest {
			return nil // trailing spaces after the colon: let yaml.v3 place the value
		}
		return p.nested(indent, line, rest)
	}
	switch line[j] {
	case '|':
		return p.literal(indent, line, j)
	case '#':
		return nil
	}
	n := p.inline(line, j, false)
	if n == nil {
		return nil
	}
	// A value continues on more-indented lines only in forms left to yaml.v3.
	p.i++
	if p.nextIndent() > indent {
		return nil
	}
	return n
}

// nextIndent is the indentation of the next line that is not blank or a
// comment, or -1 at the end.
func (p *blockParser) nextIndent() int {
	for k := p.i; k < len(p.lines); k++ {
		t := strings.TrimLeft(p.lines[k], " ")
		if t != "" && t[0] != '#' {
			return indentOf(p.lines[k])
		}
		if t != "" && t[0] == '#' {
			return -1 // a comment line ends a plain scalar; stop guessing
		}
	}
	return -1
}

// nested reads the value of a key with nothing after its colon: a block
// mapping or sequence on the next lines, or null.
func (p *blockParser) nested(indent int, line string, colon int) *yaml.Node {
	p.i++
	save := p.i
	p.skip()
	if p.i >= len(p.lines) {
		p.i = save
		return p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: save, Column: col(line, colon)})
	}
	next := p.lines[p.i]
	in := indentOf(next)
	isSeq := strings.HasPrefix(next[in:], "- ")
	switch {
	case in > indent && isSeq, in == indent && isSeq:
		return p.sequence(in)
	case in > indent:
		return p.mapping(in, -1)
	}
	if p.i != save {
		return nil // null followed by blank or comment lines: positions vary
	}
	return p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: save, Column: col(line, colon)})
}

// sequence reads a block sequence whose dashes sit at column indent.
func (p *blockParser) sequence(indent int) *yaml.Node {
	s := p.node(yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"})
	for !p.failed {
		p.skip()
		if p.i >= len(p.lines) {
			break
		}
		line := p.lines[p.i]
		in := indentOf(line)
		if in < indent || in == indent && !strings.HasPrefix(line[in:], "- ") {
			break
		}
		if in > indent {
			return p.fail()
		}
		if len(s.Content) == 0 {
			s.Line, s.Column = p.i+1, col(line, in)
		}
		item := in + 2
		if item >= len(line) || line[item] == ' ' || line[item] == '-' || line[item] == '#' || line[item] == '|' {
			return p.fail()
		}
		var n *yaml.Node
		if _, _, isKey := keyAt(line, item); isKey {
			n = p.mapping(item, item)
		} else {
			if n = p.inline(line, item, false); n == nil {
				return p.fail()
			}
			p.i++
			if p.nextIndent() > indent {
				return p.fail()
			}
		}
		if n == nil {
			return p.fail()
		}
		s.Content = append(s.Content, n)
	}
	return s
}

// literal reads a | or |- block scalar whose indicator is at offset j.
func (p *blockParser) literal(indent int, line string, j int) *yaml.Node {
	strip := false
	switch strings.TrimRight(line[j:], " ") {
	case "|":
	case "|-":
		strip = true
	default:
		return nil
	}
	if strings.TrimRight(line[j:], " ") != line[j:] {
		return nil
	}
	n := p.node(yaml.Node{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Tag: "!!str", Line: p.i + 1, Column: col(line, j)})
	p.i++
	var body []string
	blockIndent := -1
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l == "" {
			body = append(body, "")
			p.i++
			continue
		}
		in := indentOf(l)
		if in == len(l) {
			return nil // a line of spaces: its meaning depends on the indentation
		}
		if blockIndent < 0 {
			if in <= indent {
				break
			}
			blockIndent = in
		}
		if in < blockIndent {
			if in > indent {
				return nil
			}
			break
		}
		body = append(body, l[blockIndent:])
		p.i++
	}
	// Trailing blank lines belong to no one here: leave them to the caller.
	for len(body) > 0 && body[len(body)-1] == "" {
		body = body[:len(body)-1]
		p.i--
	}
	if blockIndent < 0 || len(body) == 0 {
		return nil // an empty block scalar: rare, and yaml.v3 knows best
	}
	n.Value = strings.Join(body, "\n")
	if !strip {
		n.Value += "\n"
	}
	return n
}

// inline reads a one-line value at offset j of line: a plain or quoted
// scalar, or (outside flow collections) a flow sequence or mapping.
func (p *blockParser) inline(line string, j int, inFlow bool) *yaml.Node {
	n, end := p.inlineAt(line, j, inFlow)
	if n == nil {
		return nil
	}
	// Only spaces and a comment may follow.
	rest := strings.TrimLeft(line[end:], " ")
	if rest != "" && (rest[0] != '#' || len(rest) == len(line[end:])) {
		return nil
	}
	return n
}

func (p *blockParser) inlineAt(line string, j int, inFlow bool) (*yaml.Node, int) {
	n := p.node(yaml.Node{Kind: yaml.ScalarNode, Line: p.i + 1, Column: col(line, j)})
	switch c := line[j]; c {
	case '"':
		k := strings.IndexByte(line[j+1:], '"')
		if k < 0 || strings.IndexByte(line[j+1:j+1+k], '\\') >= 0 {
			return nil, 0
		}
		n.Style, n.Tag, n.Value = yaml.DoubleQuotedStyle, "!!str", line[j+1:j+1+k]
		return n, j + k + 2
	case '\'':
		var b strings.Builder
		k := j + 1
		for {
			q := strings.IndexByte(line[k:], '\'')
			if q < 0 {
				return nil, 0
			}
			b.WriteString(line[k : k+q])
			k += q + 1
			if k < len(line) && line[k] == '\'' {
				b.WriteByte('\'')
				k++
				continue
			}
			break
		}
		n.Style, n.Tag, n.Value = yaml.SingleQuotedStyle, "!!str", b.String()
		return n, k
	case '[', '{':
		return p.flow(line, j)
	case '&', '*', '!', '%', '@', '`', '>', '|', '?', '-', ':', ',', ']', '}', '#':
		return nil, 0
	}
	end := len(line)
	stop := " #"
	if inFlow {
		// In [ ] and { }, a plain scalar ends at , ] } and holds none of [ {.
		for k := j; k < len(line); k++ {
			if strings.IndexByte(",[]{}", line[k]) >= 0 {
				end = k
				break
			}
		}
		if end == len(line) {
			return nil, 0
		}
	}
	if k := strings.Index(line[j:end], stop); k >= 0 {
		end = j + k
	}
	v := strings.TrimRight(line[j:end], " ")
	if strings.Contains(v, ": ") || strings.HasSuffix(v, ":") || strings.Contains(v, " #") {
		return nil, 0
	}
	if inFlow && strings.ContainsRune(v, '?') {
		return nil, 0 // yaml.v3 refuses some (Ship it?}): let it read, and say why
	}
	tag, ok := plainTag(v)
	if !ok {
		return nil, 0
	}
	n.Tag, n.Value = tag, v
	return n, j + len(v)
}

// flow reads a one-line [a, b] or {k: v, k: v} of scalars at offset j.
func (p *blockParser) flow(line string, j int) (*yaml.Node, int) {
	// Each level recurses: past a depth no flow file needs, give up and
	// let yaml.v3 read (and bound) it.
	if p.depth >= maxBlockFlowDepth {
		return nil, 0
	}
	p.depth++
	defer func() { p.depth-- }()
	seq := line[j] == '['
	closer := byte('}')
	n := p.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, Line: p.i + 1, Column: col(line, j)})
	if seq {
		closer = ']'
		n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
	}
	k := j + 1
	for {
		for k < len(line) && line[k] == ' ' {
			k++
		}
		if k >= len(line) {
			return nil, 0
		}
		if line[k] == closer && len(n.Content) == 0 {
			return n, k + 1
		}
		if !seq {
			key, after, ok := keyAt(line, k)
			if !ok {
				return nil, 0
			}
			kn := p.node(yaml.Node{Kind: yaml.ScalarNode, Value: key, Line: p.i + 1, Column: col(line, k)})
			if kn.Tag, ok = plainTag(key); !ok {
				return nil, 0
			}
			n.Content = append(n.Content, kn)
			k = after
			for k < len(line) && line[k] == ' ' {
				k++
			}
			if k >= len(line) {
				return nil, 0
			}
		}
		item, end := p.inlineAt(line, k, true)
		if item == nil {
			return nil, 0
		}
		n.Content = append(n.Content, item)
		k = end
		for k < len(line) && line[k] == ' ' {
			k++
		}
		if k >= len(line) {
			return nil, 0
		}
		switch line[k] {
		case ',':
			k++
			for k < len(line) && line[k] == ' ' {
				k++
			}
			if k < len(line) && line[k] == closer {
				return nil, 0 // a trailing comma
			}
		case closer:
			return n, k + 1
		default:
			return nil, 0
		}
	}
}

// plainTag is the tag yaml.v3 gives a plain scalar, for the values it can
// be sure of: text that cannot be read as anything but a string, whole
// numbers without sign or leading zero, decimals like 0.5, and the
// booleans true and false.
func plainTag(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	switch v {
	case "true", "false":
		return "!!bool", true
	}
	c := v[0]
	switch {
	case c >= '0' && c <= '9':
		return numberTag(v)
	case c == '$' || c == '_' || c == '/' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		// Words YAML (1.1 or 1.2) reads as booleans or null are left to yaml.v3.
		switch strings.ToLower(v) {
		case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
			return "", false
		}
		return "!!str", true
	}
	return "", false
}

// numberTag types a plain scalar starting with a digit: 42 and 0.5 are
// numbers; 90s, 2m and 1h30m are strings (a digit run, then a letter that
// no number or date notation uses, then letters and digits).
func numberTag(v string) (string, bool) {
	digits := 0
	for digits < len(v) && v[digits] >= '0' && v[digits] <= '9' {
		digits++
	}
	if v[0] == '0' && digits > 1 {
		return "", false
	}
	rest := v[digits:]
	switch {
	case rest == "":
		if digits > 18 {
			return "", false
		}
		return "!!int", true
	case rest[0] == '.':
		frac := rest[1:]
		if frac == "" || strings.Trim(frac, "0123456789") != "" {
			return "", false
		}
		return "!!float", true
	case strings.IndexByte("smhd", rest[0]) >= 0 && v[0] != '0':
		for k := 0; k < len(rest); k++ {
			if c := rest[k]; !(c >= '0' && c <= '9' || strings.IndexByte("smhdµnu", c) >= 0) {
				return "", false
			}
		}
		return "!!str", true
	}
	return "", false
}

// printable says whether data is UTF-8 holding only characters YAML allows
// in a file, and no tab or carriage return (which this reader leaves to
// yaml.v3).
func printable(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError || r >= 0x80 && r <= 0x9f || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		i += size
	}
	return true
}
