package flowspec

import "errors"

// Template is a string holding zero or more ${{ expr }} placeholders, with
// every expression compiled at load time. (Placeholder until implemented.)
type Template struct {
	src string
	pos Pos
}

// Source returns the template as written in the flow file.
func (t *Template) Source() string { return t.src }

// Pos returns where the template starts in the flow file.
func (t *Template) Pos() Pos { return t.pos }

// Eval evaluates the template. A template that is exactly one expression
// keeps the expression's type; otherwise the result is the rendered string.
func (t *Template) Eval(s *Scope) (any, error) { return nil, errors.New("not implemented") }

// Render evaluates the template to text (maps and lists as JSON).
func (t *Template) Render(s *Scope) (string, error) { return "", errors.New("not implemented") }

// Bool evaluates the template as a condition.
func (t *Template) Bool(s *Scope) (bool, error) { return false, errors.New("not implemented") }
