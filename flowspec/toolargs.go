package flowspec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// toolArgs are the names a tool's arguments may have, when its parameters
// say so: properties listed, and no other allowed (no additionalProperties
// or one that is false) nor brought in by a combinator or a $ref. Then
// args.X naming none of them is a typo, found at validation rather than
// as a missing value when the model calls the tool.
type toolArgs struct {
	tool  string
	names []string
}

// openKeys are the keywords of an object schema through which it may
// allow a property its properties do not list.
var openKeys = []string{"additionalProperties", "patternProperties", "allOf", "anyOf", "oneOf", "$ref", "$dynamicRef", "if", "dependentSchemas", "unevaluatedProperties"}

// closedArgs is t's toolArgs, or nil when its arguments may have names its
// parameters do not list.
func closedArgs(t *Tool) *toolArgs {
	props, ok := t.Parameters["properties"].(map[string]any)
	if !ok || len(props) == 0 {
		return nil
	}
	for _, k := range openKeys {
		if v, has := t.Parameters[k]; has && !(k == "additionalProperties" && v == false) {
			return nil
		}
	}
	ta := &toolArgs{tool: t.Name}
	for name := range props {
		ta.names = append(ta.names, name)
	}
	sort.Strings(ta.names)
	return ta
}

// unknown says that args.name is not one of the tool's parameters.
func (ta *toolArgs) unknown(name string) string {
	msg := fmt.Sprintf("unknown parameter %q; the parameters of tool %s are %s", name, strconv.Quote(ta.tool), strings.Join(ta.names, ", "))
	if s := suggest(name, ta.names); s != "" {
		return msg + fmt.Sprintf("; did you mean %q?", s)
	}
	return msg + " (add it under parameters.properties for the model to pass it)"
}
