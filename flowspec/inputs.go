package flowspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kitaruhq/kitaru/internal/bytesize"
	"github.com/kitaruhq/kitaru/internal/textcut"
)

// BindInputs checks given against the declared inputs and returns the
// values expressions will see: strings (from --input k=v) are converted to
// the declared type, typed values (from JSON or YAML) are checked, defaults
// fill what is not given. Problems are *InputError values (joined when
// there are several).
func (f *Flow) BindInputs(given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(f.Inputs))
	var problems []error
	declared := make(map[string]*Input, len(f.Inputs))
	names := make([]string, 0, len(f.Inputs))
	for _, in := range f.Inputs {
		declared[in.Name] = in
		names = append(names, in.Name)
	}
	unknown := make([]string, 0)
	for k := range given {
		if declared[k] == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := fmt.Sprintf("flow %s has no input %q", f.Name, k)
		if s := suggest(k, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else if len(names) > 0 {
			msg += "; its inputs are: " + strings.Join(names, ", ")
		} else {
			msg += "; it declares no inputs"
		}
		problems = append(problems, &InputError{Input: k, Msg: msg})
	}
	for _, in := range f.Inputs {
		v, ok := given[in.Name]
		if !ok {
			if !in.HasDefault {
				problems = append(problems, &InputError{Input: in.Name, Type: in.Type,
					Msg: fmt.Sprintf("input %q (%s) is required; pass --input %s=...", in.Name, in.Type, in.Name)})
				continue
			}
			out[in.Name] = normalize(in.Default) // a copy: a run cannot change a default
			continue
		}
		var (
			val any
			err error
		)
		if s, isStr := v.(string); isStr && in.Type != "string" {
			val, err = coerceString(in.Type, s)
		} else {
			val, err = coerceTyped(in.Type, v)
		}
		if err != nil {
			problems = append(problems, &InputError{Input: in.Name, Type: in.Type,
				Msg: fmt.Sprintf("input %q must be %s, not %s", in.Name, typeArticle(in.Type), describeGiven(v))})
			continue
		}
		out[in.Name] = val
	}
	switch len(problems) {
	case 0:
		return out, nil
	case 1:
		return nil, problems[0]
	}
	return nil, errors.Join(problems...)
}

func typeArticle(t string) string {
	switch t {
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "boolean":
		return "a boolean (true or false)"
	case "list":
		return "a list"
	case "object":
		return "an object"
	}
	return "a " + t
}

func describeGiven(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(textcut.Runes(x, 60))
	case nil:
		return "null"
	}
	return fmt.Sprintf("%s %s", typeName(v), textcut.Runes(FormatValue(v), 60))
}

// coerceString parses text given on the command line as the declared type.
func coerceString(typ, s string) (any, error) {
	t := strings.TrimSpace(s)
	switch typ {
	case "string", "":
		return s, nil
	case "integer":
		i, err := strconv.Atoi(t)
		if err != nil {
			// 1e3 and 5.0 are integers too.
			f, ferr := strconv.ParseFloat(t, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, errors.New("not an integer")
			}
			return int(f), nil
		}
		return i, nil
	case "number":
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errors.New("not a number")
		}
		return f, nil
	case "boolean":
		switch strings.ToLower(t) {
		case "true", "yes", "1", "on":
			return true, nil
		case "false", "no", "0", "off":
			return false, nil
		}
		return nil, errors.New("not a boolean")
	case "list", "object":
		// JSON is YAML; YAML also allows [a, b] without quotes.
		var v any
		if err := yaml.Unmarshal([]byte(t), &v); err != nil {
			return nil, err
		}
		return coerceTyped(typ, v)
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

// coerceTyped checks a value read from JSON or YAML against the declared
// type and normalises it: integers are int, numbers float64, lists []any,
// objects map[string]any.
func coerceTyped(typ string, v any) (any, error) {
	switch typ {
	case "", "any":
		return normalize(v), nil
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "integer":
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case uint64:
			if x <= math.MaxInt64 {
				return int(x), nil
			}
		case float64:
			if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
				return int(x), nil
			}
		case json.Number:
			return coerceString("integer", x.String())
		}
	case "number":
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case uint64:
			return float64(x), nil
		case float64:
			return x, nil
		case json.Number:
			return coerceString("number", x.String())
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "list":
		if l, ok := v.([]any); ok {
			return normalize(l), nil
		}
	case "object":
		switch v.(type) {
		case map[string]any, map[any]any:
			return normalize(v), nil
		}
	}
	return nil, fmt.Errorf("not %s", typeArticle(typ))
}

// normalize returns a deep copy of v with YAML's map[any]any turned into
// map[string]any, so values can be JSON-encoded and read by expressions.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case int64:
		return int(x)
	}
	return v
}

// ParseInputArgs reads --input k=v arguments. Values stay strings;
// BindInputs converts them to the declared types.
func ParseInputArgs(args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, &InputError{Input: k, Msg: fmt.Sprintf("--input %q needs a value: write --input %s=VALUE", a, k)}
		}
		if k == "" {
			return nil, &InputError{Msg: fmt.Sprintf("--input %q has no name before =; write --input NAME=VALUE", a)}
		}
		if _, dup := out[k]; dup {
			return nil, &InputError{Input: k, Msg: fmt.Sprintf("input %q is given twice", k)}
		}
		out[k] = v
	}
	return out, nil
}

// ReadInputsFile reads inputs from a JSON or YAML file holding a mapping of
// input names to values.
func ReadInputsFile(path string) (map[string]any, error) {
	data, _, err := readAtMost(path, MaxFileSize)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("the inputs file %s holds more than %s; inputs are for small values: pass a path and read the file in a step", path, bytesize.Format(MaxFileSize))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the inputs file: %w", err)
	}
	var v any
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".json" {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("inputs file %s is not valid JSON: %w", path, err)
		}
	} else if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("inputs file %s is not valid JSON or YAML: %w", path, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := normalize(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("inputs file %s must hold a mapping of input names to values, e.g. {\"topic\": \"...\"}", path)
	}
	return m, nil
}
