package flowspec

import (
	"fmt"
	"strings"

	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// MaxExprLen bounds one ${{ }} expression's source, in bytes.
const MaxExprLen = 64 << 10

// MaxExprDepth bounds how deeply one expression nests.
const MaxExprDepth = 100

// shapeError is an expression refused before it is parsed; off is the
// byte offset in the expression where the bound was passed.
type shapeError struct {
	off int
	msg string
}

func (e *shapeError) Error() string { return e.msg }

// checkExprShape refuses, in one pass and before expr parses it, an
// expression too long or nested too deeply. expr's parser, checker and
// compiler recurse once per level of nesting, and the parser does so
// before it counts nodes (MaxNodes), so a deep enough expression overflows
// Go's stack: a fatal error no recover catches. The depth counted is an
// upper bound of that recursion: brackets, unary operators (- + ! not), and
// the operators whose right side is parsed by a nested call (?: ** ^ let
// if), which count until the bracket, argument or element they are in
// ends. String literals and comments are skipped.
func checkExprShape(src string) error {
	if len(src) > MaxExprLen {
		return &shapeError{off: len(src) - len(strings.TrimLeft(src, " \t\n")), msg: fmt.Sprintf("the expression is %d bytes long; at most %d (%s) are allowed: compute large values in a checkpoint's run: command or split them across steps", len(src), MaxExprLen, bytesize.Format(MaxExprLen))}
	}
	var (
		stack   []bracketFrame // each open bracket
		depth   int            // brackets, operators that right-recurse, pending unary
		unary   int            // unary operators since the last operand ended by a binary operator
		operand bool           // the last token ends an operand: a - or + after it is binary
		max     int
		over    = -1
	)
	note := func(i int) {
		if d := depth + unary; d > max {
			max = d
			if d > MaxExprDepth && over < 0 {
				over = i
			}
		}
	}
	// ends closes the unary operators pending: a binary operator of lower
	// precedence than every unary one (or a separator) ends their operand.
	ends := func() { unary, operand = 0, false }
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, ok := skipString(src, i)
			if !ok {
				end = len(src) // unclosed: the parser reports it
			}
			i, operand = end, true
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i += 2
			for i < len(src) && !(src[i] == '*' && i+1 < len(src) && src[i+1] == '/') {
				i++
			}
			i += 2
			continue
		case c == '(' || c == '[' || c == '{':
			inner := depth + unary + 1
			stack = append(stack, bracketFrame{depth, inner})
			depth = inner
			unary, operand = 0, false
			note(i)
		case c == ')' || c == ']' || c == '}':
			if n := len(stack); n > 0 {
				depth, stack = stack[n-1].before, stack[:n-1]
			}
			unary, operand = 0, true
		case c == ',' || c == ';' || c == ':':
			if c == ',' && len(stack) > 0 {
				// A new argument or element: what right-recursed in the
				// last one has returned.
				depth = stack[len(stack)-1].inner
			}
			ends()
		case c == '?':
			switch {
			case i+1 < len(src) && src[i+1] == '?': // ?? binds tighter than unary
				i++
				operand = false
			case i+1 < len(src) && src[i+1] == '.': // ?. is member access
				i++
			default: // a ternary parses its branches by nested calls
				depth += unary + 1
				unary, operand = 0, false
				note(i)
			}
		case c == '*' && i+1 < len(src) && src[i+1] == '*', c == '^':
			if c == '*' {
				i++
			}
			depth++ // right-associative: the right side nests
			operand = false
			note(i)
		case c == '-' || c == '+':
			if operand {
				ends()
			} else {
				unary++
				note(i)
			}
		case c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				i++
				ends()
			} else {
				unary++
				operand = false
				note(i)
			}
		case c == '*' || c == '/' || c == '%':
			operand = false // binds tighter than ! and not: no end
		case c == '=' || c == '<' || c == '>' || c == '&' || c == '|':
			ends()
		case c == '.':
			if i+1 < len(src) && src[i+1] == '.' {
				i++
				ends()
			} else if !operand {
				operand = true // a pointer in a predicate, or .5
			}
		case isIdentByte(c):
			j := identEnd(src, i)
			switch src[i:j] {
			case "not":
				if !operand {
					unary++
					note(i)
				}
				operand = false // else "not in", binary
			case "let", "if":
				depth += unary + 1
				unary, operand = 0, false
				note(i)
			case "else":
				operand = false
			case "and", "or", "in", "matches", "contains", "startsWith", "endsWith":
				ends()
			default:
				operand = true
			}
			i = j
			continue
		}
		i++
	}
	if over >= 0 {
		return &shapeError{off: over, msg: fmt.Sprintf("the expression nests %d levels deep; at most %d are allowed: split it into smaller expressions or steps", max, MaxExprDepth)}
	}
	return nil
}

// bracketFrame is one open bracket of checkExprShape: the depth before it, and
// the depth inside it, where each argument or element starts.
type bracketFrame struct{ before, inner int }
