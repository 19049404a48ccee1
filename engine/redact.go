package engine

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/kitaruhq/kitaru/keyring"
)

// redactor replaces secret values with *** in everything recorded.
//
// What is masked (flowspec/doc.go states the rule for flow authors): each
// value of at least keyring.MinMaskedLen characters, whole. A credential
// made of parts (a PEM key, a JSON credential) is also masked in pieces,
// so that a command printing one line of a key, `jq -r .private_key` of a
// service-account file, or the file re-indented, does not write the key
// out: its fragments are each line of a multi-line value and, when the
// value is a JSON object, each string inside it (at any depth) and that
// string's lines. A fragment is masked only when it looks like key
// material rather than words (isKeyMaterial); a string of several lines
// is masked whole when one of its lines is. Each of these is masked also
// as it reads inside a JSON string. A shorter value or a fragment that is
// not key material is not masked: "1" would turn every 1 of a step's
// output into ***, and "service_account" or "-----BEGIN PRIVATE KEY-----"
// would rewrite ordinary data.
type redactor struct {
	r       *strings.Replacer
	vals    []string // masked, longest first
	bvals   [][]byte // vals as bytes, for streams
	secrets []string // as given, for with

	mu    sync.Mutex
	withs map[string]*redactor // with's results, by the values added
}

func newRedactor(secrets []string) *redactor {
	var vals []string
	seen := map[string]bool{}
	add := func(v string) {
		if !keyring.Maskable(v) || seen[v] {
			return
		}
		seen[v] = true
		vals = append(vals, v)
		// Also as it reads inside a JSON string, the way a command that
		// prints JSON (or a record) writes a quote or a newline.
		if e := jsonEscaped(v); !seen[e] {
			seen[e] = true
			vals = append(vals, e)
		}
	}
	for _, v := range secrets {
		add(v)
		for _, f := range fragments(v) {
			add(f)
		}
	}
	if len(vals) == 0 {
		return &redactor{secrets: secrets}
	}
	// Longest first, so a secret containing another is masked whole.
	slices.SortStableFunc(vals, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "***")
	}
	bvals := make([][]byte, len(vals))
	for i, v := range vals {
		bvals[i] = []byte(v)
	}
	return &redactor{r: strings.NewReplacer(pairs...), vals: vals, bvals: bvals, secrets: secrets}
}

// fragments are the parts of a credential that are masked on their own
// (see redactor): the key-material lines of a multi-line value and, in a
// JSON object, its key-material strings, those holding such lines, and
// those lines.
func fragments(v string) []string {
	var out []string
	var lines func(s string) bool
	lines = func(s string) bool {
		found := false
		if strings.Contains(s, "\n") {
			for ln := range strings.SplitSeq(s, "\n") {
				if ln = strings.TrimSpace(ln); isKeyMaterial(ln) {
					out = append(out, ln)
					found = true
				}
			}
		}
		return found
	}
	lines(v)
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, "{") {
		return out
	}
	var obj map[string]any
	if json.Unmarshal([]byte(t), &obj) != nil {
		return out
	}
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			if isKeyMaterial(x) || lines(x) {
				out = append(out, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(obj)
	return out
}

// fragmentMinLen is the shortest fragment of a credential masked on its
// own: "service_account" (15) is a word, a key id or a line of base64 is
// longer.
const fragmentMinLen = 16

// isKeyMaterial says whether a fragment of a credential is masked on its
// own: at least fragmentMinLen characters without whitespace (words and
// lines of text have spaces), and neither PEM armor
// (-----BEGIN PRIVATE KEY-----, whose words the whitespace rule already
// excludes; said here so that a label without spaces is excluded too) nor
// a URL (the auth_uri of every Google credential is the same public one).
func isKeyMaterial(f string) bool {
	if utf8.RuneCountInString(f) < fragmentMinLen || strings.ContainsFunc(f, unicode.IsSpace) {
		return false
	}
	if strings.HasPrefix(f, "-----") && strings.HasSuffix(f, "-----") {
		return false
	}
	return !strings.Contains(f, "://")
}

// jsonEscaped is v as written between the quotes of a JSON string.
func jsonEscaped(v string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return v
	}
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(b.String(), "\n"), `"`), `"`)
}

// with is r masking more values too; r itself is unchanged. An llm step
// adds its provider key on every call and every foreach item: the result
// is kept on r per set of values added, so it is built once per step (or
// run, for the base redactor), not per call.
func (r *redactor) with(more []string) *redactor {
	if r == nil {
		return newRedactor(more)
	}
	add := slices.DeleteFunc(slices.Clone(more), func(v string) bool { return slices.Contains(r.secrets, v) })
	if len(add) == 0 {
		return r
	}
	key := strings.Join(add, "\x00")
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.withs[key]; w != nil {
		return w
	}
	w := newRedactor(append(slices.Clip(r.secrets), add...))
	if len(r.withs) < maxWiths {
		if r.withs == nil {
			r.withs = map[string]*redactor{}
		}
		r.withs[key] = w
	}
	return w
}

// maxWiths bounds with's cache: a step calls a handful of models, each
// with one key.
const maxWiths = 16

func (r *redactor) str(s string) string {
	out, _ := r.mask(s)
	return out
}

// mask is str, and whether anything was masked.
func (r *redactor) mask(s string) (string, bool) {
	if r == nil || r.r == nil {
		return s, false
	}
	out := r.r.Replace(s)
	return out, out != s
}

// value masks every string inside a decoded JSON value (keys too), and
// says whether anything was masked.
func (r *redactor) value(v any) (any, bool) {
	if r == nil || r.r == nil {
		return v, false
	}
	switch x := v.(type) {
	case string:
		return r.mask(x)
	case []any:
		out, changed := make([]any, len(x)), false
		for i, e := range x {
			var m bool
			out[i], m = r.value(e)
			changed = changed || m
		}
		return out, changed
	case map[string]any:
		out, changed := make(map[string]any, len(x)), false
		for k, e := range x {
			k, mk := r.mask(k)
			var m bool
			out[k], m = r.value(e)
			changed = changed || m || mk
		}
		return out, changed
	}
	return v, false
}

// redactStream masks text that arrives in chunks, a command's output on
// its way to the log: a secret cut between two chunks (half printed, then
// a pause, then the rest, or a multi-line key printed line by line) is
// still masked whole, because the end of a chunk that may begin a secret
// is held back (never more than the longest value less one byte) until the
// next chunk or the end of the stream shows whether it does.
type redactStream struct {
	r    *redactor
	held []byte
}

// next takes the next chunk and returns the text that can be logged now,
// masked as masking the whole stream would. Without secrets it is p.
func (s *redactStream) next(p []byte) []byte {
	if s.r == nil || s.r.r == nil {
		return p
	}
	buf := p
	if len(s.held) > 0 {
		buf = append(s.held, p...)
	}
	// Matches are taken leftmost first, the longest where several start
	// together (as strings.Replacer does with values sorted longest first),
	// but only up to hold: from there on buf may be the beginning of a
	// value that the next chunk completes, and that one would come first.
	var out []byte
	pos, hold := 0, len(buf)-s.r.startsAtEnd(buf)
	next := make([]int, len(s.r.vals)) // where each value is next found
	for i := range next {
		next[i] = -2
	}
	for {
		j, n := s.r.firstMatch(buf, pos, next)
		if j < 0 || j >= hold {
			break
		}
		out = append(append(out, buf[pos:j]...), "***"...)
		pos = j + n
		if pos > hold {
			// The value matched covers the start of the one held for.
			hold = len(buf) - s.r.startsAtEnd(buf[pos:])
		}
	}
	out = append(out, buf[pos:hold]...)
	s.held = append(s.held[:0], buf[hold:]...)
	return out
}

// rest is what was held back, masked: the stream has ended.
func (s *redactStream) rest() []byte {
	if len(s.held) == 0 {
		return nil
	}
	out := []byte(s.r.str(string(s.held)))
	s.held = nil
	return out
}

// firstMatch is the start and length of the first value found in b at or
// after pos, the longest of those starting there; -1 if none is. next
// caches, per value, where it was found last (-2: not searched yet).
func (r *redactor) firstMatch(b []byte, pos int, next []int) (int, int) {
	best, n := -1, 0
	for i, v := range r.bvals {
		if next[i] == -1 {
			continue // not in b at all
		}
		if next[i] < pos {
			if k := bytes.Index(b[pos:], v); k >= 0 {
				next[i] = pos + k
			} else {
				next[i] = -1
				continue
			}
		}
		if best < 0 || next[i] < best {
			best, n = next[i], len(v)
		}
	}
	return best, n
}

// startsAtEnd is the length of the longest end of b that is the beginning,
// but not the whole, of a masked value.
func (r *redactor) startsAtEnd(b []byte) int {
	best := 0
	for _, v := range r.vals {
		// Only the last len(v)-1 bytes can begin v without holding all of it.
		for i := max(0, len(b)-len(v)+1); i < len(b)-best; i++ {
			j := bytes.IndexByte(b[i:len(b)-best], v[0])
			if j < 0 {
				break
			}
			i += j
			if v[:len(b)-i] == string(b[i:]) {
				best = len(b) - i
				break
			}
		}
	}
	return best
}

// endsAtStart is the length of the longest start of b that is the end,
// but not the whole, of a masked value: text kept from some point on may
// begin inside a secret.
func (r *redactor) endsAtStart(b []byte) int {
	if r == nil {
		return 0
	}
	best := 0
	for _, v := range r.bvals {
		for n := min(len(v)-1, len(b)); n > best; n-- {
			if bytes.Equal(b[:n], v[len(v)-n:]) {
				best = n
				break
			}
		}
	}
	return best
}

// unmaskable lists the keys of kv whose values are too short to be masked.
func unmaskable(kv map[string]string) []string {
	var keys []string
	for k, v := range kv {
		if !keyring.Maskable(v) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
