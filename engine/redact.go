package engine

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/kitaruhq/kitaru/keyring"
)

// redactor replaces secret values with *** in everything recorded.
//
// What is masked (flowspec/doc.go states the rule for flow authors): a
// value of at least keyring.MinMaskedLen characters; for a multi-line value
// (a PEM key, a JSON credential), the whole value and also each of its
// lines, trimmed of surrounding spaces, that is long enough on its own, so
// that a command printing one line of a key, or re-indenting a JSON
// credential, does not write the line out; each of these also as it reads
// inside a JSON string. A shorter value is not masked: "1" would turn every
// 1 of a step's output into ***.
type redactor struct {
	r       *strings.Replacer
	vals    []string // masked, longest first
	bvals   [][]byte // vals as bytes, for streams
	secrets []string // as given, for with
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
		if strings.Contains(v, "\n") {
			for ln := range strings.SplitSeq(v, "\n") {
				add(strings.TrimSpace(ln))
			}
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

// maxLen is the length in bytes of the longest masked value: text cut at
// a point must keep that much beyond it to mask a value that spans the cut.
func (r *redactor) maxLen() int {
	if r == nil || len(r.vals) == 0 {
		return 0
	}
	return len(r.vals[0])
}

// with is r masking more values too; r itself is unchanged.
func (r *redactor) with(more []string) *redactor {
	var base []string
	if r != nil {
		base = r.secrets
	}
	add := slices.DeleteFunc(slices.Clone(more), func(v string) bool { return slices.Contains(base, v) })
	if len(add) == 0 && r != nil {
		return r
	}
	return newRedactor(append(slices.Clip(base), add...))
}

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

// value redacts every string inside a decoded JSON value.
func (r *redactor) value(v any) any {
	if r == nil || r.r == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return r.str(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.str(k)] = r.value(e)
		}
		return out
	}
	return v
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
