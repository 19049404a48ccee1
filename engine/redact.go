package engine

import (
	"sort"
	"strings"
)

// redactor replaces secret values with *** in everything recorded.
type redactor struct {
	r       *strings.Replacer
	longest int // bytes of the longest secret
}

func newRedactor(secrets []string) *redactor {
	// Longest first, so a secret containing another is masked whole.
	vals := append([]string(nil), secrets...)
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	var pairs []string
	for _, v := range vals {
		if v != "" {
			pairs = append(pairs, v, "***")
		}
	}
	if len(pairs) == 0 {
		return &redactor{}
	}
	return &redactor{r: strings.NewReplacer(pairs...), longest: len(vals[0])}
}

// maxLen is the length of the longest secret: text cut at a point must
// keep that much beyond it to mask a secret that spans the cut.
func (r *redactor) maxLen() int {
	if r == nil {
		return 0
	}
	return r.longest
}

func (r *redactor) str(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
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
