package flowspec

import (
	"slices"
	"unicode/utf8"
)

// scanRefs finds the inputs and steps an expression reads, and whether it
// reads item or index, without parsing it: it follows the tokens for the
// only shapes a loadable flow uses (steps.x, steps?.x, steps["x"],
// inputs.x, inputs["x"]). Whenever it meets something it cannot be sure
// reads the same way as expr's parser would read it, ok is false and the
// caller parses instead. Its results for expressions it does handle are
// tested against the parser's.
func (c *compiler) scanRefs(src string) (r Refs, ok bool) {
	var inputs, steps []string
	prevDot := false // the previous token was . or ?.
	for i := 0; i < len(src); {
		ch := src[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
			continue
		case ch == '"' || ch == '\'' || ch == '`':
			end, ok := skipString(src, i)
			if !ok {
				return Refs{}, false
			}
			i = end
			prevDot = false
			continue
		case ch == '/' && i+1 < len(src) && (src[i+1] == '/' || src[i+1] == '*'):
			return Refs{}, false // comments: rare, let the parser skip them
		case ch >= '0' && ch <= '9':
			// A number: 1.5, 1e3, 0x1F, 1_000. A dot belongs to it only
			// when a digit follows (1..3 is a range).
			for i < len(src) && (isIdentByte(src[i]) || src[i] == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9') {
				i++
			}
			prevDot = false
			continue
		case isIdentStart(src, i):
			start := i
			i = identEnd(src, i)
			name := src[start:i]
			if prevDot {
				prevDot = false
				continue // a property, not a name of the environment
			}
			switch name {
			case "steps", "inputs":
				key, next, ok := memberKey(src, i)
				if !ok {
					return Refs{}, false
				}
				i = next
				if name == "steps" {
					if c.hasStep(key) {
						steps = append(steps, key)
					}
				} else if _, known := c.inputs[key]; known {
					inputs = append(inputs, key)
				}
			case "item", "index":
				// item: may be a map key; item ? a : b is not. Let the
				// parser tell them apart.
				j := skipSpace(src, i)
				if j < len(src) && src[j] == ':' {
					return Refs{}, false
				}
				r.Item = true
				r.Index = r.Index || name == "index"
			}
			prevDot = false
			continue
		case ch == '.' && i+1 < len(src) && src[i+1] == '.':
			i += 2 // the range operator
			prevDot = false
			continue
		case ch == '.':
			prevDot = true
			i++
			continue
		case ch == '?' && i+1 < len(src) && src[i+1] == '.':
			prevDot = true
			i += 2
			continue
		case ch >= utf8.RuneSelf:
			return Refs{}, false
		}
		prevDot = false
		i++
	}
	r.Inputs, r.Steps = uniqueSorted(inputs), uniqueSorted(steps)
	return r, true
}

// memberKey reads what follows steps or inputs: .name, ?.name or ["name"]
// (also ?.["name"]). It returns the name and the offset after it.
func memberKey(src string, i int) (key string, next int, ok bool) {
	i = skipSpace(src, i)
	if i+1 < len(src) && src[i] == '?' && src[i+1] == '.' {
		i = skipSpace(src, i+2)
		if i < len(src) && src[i] == '[' {
			return bracketKey(src, i)
		}
		return dotKey(src, i)
	}
	if i < len(src) && src[i] == '.' {
		return dotKey(src, skipSpace(src, i+1))
	}
	if i < len(src) && src[i] == '[' {
		return bracketKey(src, i)
	}
	return "", 0, false
}

func dotKey(src string, i int) (string, int, bool) {
	if !isIdentStart(src, i) {
		return "", 0, false
	}
	end := identEnd(src, i)
	// steps.my-step reads as steps.my minus step: never in a flow that
	// loaded, but say so rather than guess.
	if j := skipSpace(src, end); j < len(src) && src[j] == '-' && j == end {
		return "", 0, false
	}
	return src[i:end], end, true
}

func bracketKey(src string, i int) (string, int, bool) {
	i = skipSpace(src, i+1)
	if i >= len(src) || src[i] != '"' && src[i] != '\'' && src[i] != '`' {
		return "", 0, false
	}
	end, ok := skipString(src, i)
	if !ok {
		return "", 0, false
	}
	body := src[i+1 : end-1]
	for k := 0; k < len(body); k++ {
		if body[k] == '\\' {
			return "", 0, false // escapes: let the parser unquote
		}
	}
	j := skipSpace(src, end)
	if j >= len(src) || src[j] != ']' {
		return "", 0, false
	}
	return body, j + 1, true
}

// skipString returns the offset after the string literal starting at i.
func skipString(src string, i int) (int, bool) {
	q := src[i]
	for k := i + 1; k < len(src); k++ {
		switch src[k] {
		case '\\':
			if q != '`' {
				k++
			}
		case q:
			return k + 1, true
		}
	}
	return 0, false
}

func skipSpace(src string, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func isIdentStart(src string, i int) bool {
	if i >= len(src) {
		return false
	}
	c := src[i]
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func identEnd(src string, i int) int {
	for i < len(src) && isIdentByte(src[i]) {
		i++
	}
	return i
}

func uniqueSorted(s []string) []string {
	if len(s) < 2 {
		return s
	}
	slices.Sort(s)
	return slices.Compact(s)
}
