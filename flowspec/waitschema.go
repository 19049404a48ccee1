package flowspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// schema reads a wait step's JSON Schema and checks that it is one.
func (l *loader) schema(s *Step, n *yaml.Node) map[string]any {
	return l.schemaAt(n, "step "+strconv.Quote(s.ID), "schema", "{type: boolean}")
}

// schemaAt reads the JSON Schema field of owner (`step "a"`) and checks
// that it is one; example is one to show in the error.
func (l *loader) schemaAt(n *yaml.Node, owner, field, example string) map[string]any {
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
	if _, err := CompileSchema(raw); err != nil {
		loc, msg := schemaProblem(err)
		l.e.add(pos(nodeAt(n, loc)), "%s: %s is not a valid JSON Schema: %s", owner, field, msg)
		return nil
	}
	// Keep the JSON form so callers see JSON types (float64 numbers).
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// CompileSchema compiles a JSON Schema document (a wait step's answer
// schema). References to other documents are refused: flows are
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
