package flowspec

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// schema reads a step's JSON Schema (a wait step's answer, an llm step's
// answer) and checks that it is one; nil when it is not (reported).
func (l *loader) schema(s *Step, n *yaml.Node) *AnswerSchema {
	return l.schemaAt(n, "step "+strconv.Quote(s.ID), "schema", "{type: boolean}")
}

// schemaAt reads the JSON Schema field of owner (`step "a"`, `tool "b"`)
// and checks that it is one; example is one to show in the error. Every
// JSON Schema of a flow is read and compiled here.
func (l *loader) schemaAt(n *yaml.Node, owner, field, example string) *AnswerSchema {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "%s: %s must be a JSON Schema mapping such as %s, not %s", owner, field, example, nodeKind(n))
		return nil
	}
	var v map[string]any
	if err := n.Decode(&v); err != nil {
		l.e.add(pos(n), "%s: the %s cannot be read: %v", owner, field, err)
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		l.e.add(pos(n), "%s: the %s cannot be turned into JSON: %v", owner, field, err)
		return nil
	}
	out, err := NewAnswerSchema(raw)
	if err != nil {
		loc, msg := schemaProblem(err)
		l.e.add(pos(nodeAt(n, loc)), "%s: %s is not a valid JSON Schema: %s", owner, field, msg)
		return nil
	}
	return out
}

// NewAnswerSchema compiles a JSON Schema document (see CompileSchema) and
// keeps its JSON form, so callers see JSON types (float64 numbers).
func NewAnswerSchema(raw []byte) (*AnswerSchema, error) {
	sch, err := CompileSchema(raw)
	if err != nil {
		return nil, err
	}
	out := &AnswerSchema{JSON: raw, compiled: sch}
	_ = json.Unmarshal(raw, &out.Doc)
	return out, nil
}

// AnswerSchema is a JSON Schema of a flow, checked and compiled when the flow
// was loaded.
type AnswerSchema struct {
	Doc  map[string]any // as JSON values (float64 numbers)
	JSON []byte         // its JSON text, as providers are sent it
	// compiled is nil in an AnswerSchema a caller made: Validate compiles it then.
	compiled *jsonschema.Schema
}

// Validate checks a JSON value (as encoding/json or jsonschema.UnmarshalJSON
// decode it) and returns every place it breaks the schema, the most
// specific reasons, sorted by their JSON pointers; none when it follows it.
func (s *AnswerSchema) Validate(v any) []Violation {
	sch := s.compiled
	if sch == nil {
		var err error
		if sch, err = CompileSchema(s.JSON); err != nil {
			return []Violation{{Reason: "the schema is not valid: " + oneLine(err.Error())}}
		}
	}
	err := sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Reason: oneLine(err.Error())}}
	}
	// The validator visits properties in no fixed order: sorted, the same
	// answer always reads the same, and the first named is stable.
	out := leaves(ve, nil)
	slices.SortStableFunc(out, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Pointer, b.Pointer), strings.Compare(a.Reason, b.Reason))
	})
	return out
}

// leaves are the reasons at the ends of a validation error's tree; the
// ones above them only say that something below failed.
func leaves(ve *jsonschema.ValidationError, out []Violation) []Violation {
	if len(ve.Causes) == 0 {
		return append(out, Violation{Pointer: pointer(ve.InstanceLocation), Reason: oneLine(ve.ErrorKind.LocalizedString(english))})
	}
	for _, c := range ve.Causes {
		out = leaves(c, out)
	}
	return out
}

// Violation is where a value breaks a schema: Pointer is the JSON pointer
// (RFC 6901) of the part that broke it, "" for the whole value.
type Violation struct {
	Pointer string
	Reason  string
}

func (v Violation) Error() string {
	if v.Pointer == "" {
		return fmt.Sprintf("at \"\" (the whole value): %s", v.Reason)
	}
	return fmt.Sprintf("at %s: %s", v.Pointer, v.Reason)
}

var english = message.NewPrinter(language.English)

// pointer writes path as a JSON pointer.
func pointer(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(seg))
	}
	return b.String()
}

// CompileSchema compiles a JSON Schema document (a wait or llm step's
// answer schema). References to other documents are refused: flows are
// self-contained.
func CompileSchema(doc []byte) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource("kitaru:answer.json", v); err != nil {
		return nil, err
	}
	sch, err := c.Compile("kitaru:answer.json")
	if err != nil {
		return nil, err
	}
	return sch, nil
}

// schemaProblem finds the first specific reason a schema is invalid and
// where in the schema it is.
func schemaProblem(err error) ([]string, string) {
	var sve *jsonschema.SchemaValidationError
	if !errors.As(err, &sve) {
		return nil, oneLine(err.Error())
	}
	var ve *jsonschema.ValidationError
	if !errors.As(sve.Err, &ve) {
		return nil, oneLine(sve.Err.Error())
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	text := strings.TrimSpace(ve.Error())
	if i := strings.LastIndex(text, "\n"); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimPrefix(strings.TrimSpace(text), "- ")
	return ve.InstanceLocation, text
}

// nodeAt follows a JSON pointer's segments into a YAML node, as far as
// they go.
func nodeAt(n *yaml.Node, path []string) *yaml.Node {
	for _, seg := range path {
		n = resolve(n)
		next := (*yaml.Node)(nil)
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return resolve(n)
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not refer to other documents (%s)", url)
}

func oneLine(s string) string {
	f := strings.Fields(s)
	return strings.Join(f, " ")
}
