package flowspec

import _ "embed"

//go:embed flow.schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the flow format, for
// editors; `kitaru schema` prints it and schema/flow.schema.json is a copy.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }
