package flowspec

import (
	"fmt"
	"sort"
	"strings"
)

// errs collects a flow file's problems so that Load reports all of them at
// once.
type errs struct {
	file string
	list ErrorList
}

func (e *errs) add(pos Pos, format string, args ...any) {
	if pos.Line == 0 {
		pos = Pos{1, 1}
	}
	e.list = append(e.list, &Error{File: e.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// err returns the sorted list, or nil when there is nothing to report.
func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	sort.SliceStable(e.list, func(i, j int) bool {
		a, b := e.list[i].Pos, e.list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// The same problem found twice (e.g. through a YAML alias) is said once.
	out := e.list[:0]
	for i, x := range e.list {
		if i > 0 && *x == *e.list[i-1] {
			continue
		}
		out = append(out, x)
	}
	l := out
	return &l
}

// suggest returns the candidate closest to name when it is close enough to
// be a likely typo, else "".
func suggest(name string, candidates []string) string {
	best, bestD := "", -1
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := levenshtein(lname, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := max(1, min(3, (len([]rune(name))+1)/3))
	if bestD >= len([]rune(name)) {
		// Nothing in common: not a typo.
		return ""
	}
	if bestD <= limit || strings.HasPrefix(strings.ToLower(best), lname) && len(lname) >= 3 {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		// Long names are never typos of short ones worth suggesting; keep
		// this cheap for fuzzed input.
		if a == b {
			return 0
		}
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unknownMsg says that name is not one of the known things of a sort, with
// a suggestion where one is close, else the list of what exists.
func unknownMsg(what, name string, known []string, none string) string {
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if s := suggest(name, known); s != "" {
		return msg + fmt.Sprintf("; did you mean %q?", s)
	}
	if len(known) == 0 {
		if none != "" {
			return msg + "; " + none
		}
		return msg
	}
	if len(known) <= 8 {
		return msg + "; expected one of: " + strings.Join(known, ", ")
	}
	return msg
}
