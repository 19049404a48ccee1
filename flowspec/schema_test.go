package flowspec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compiledFlowSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("flow.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("flow.schema.json")
	if err != nil {
		t.Fatalf("Schema() is not a valid JSON Schema: %v", err)
	}
	return sch
}

// yamlAsJSON reads a YAML file the way an editor's schema check does.
func yamlAsJSON(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaValidatesExamples(t *testing.T) {
	sch := compiledFlowSchema(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		if err := sch.Validate(yamlAsJSON(t, f)); err != nil {
			t.Errorf("%s does not validate against the schema: %v", f, err)
		}
	}
}

func TestSchemaRejectsBadFlows(t *testing.T) {
	sch := compiledFlowSchema(t)
	bad := map[string]string{
		"no kind":          "name: a\nsteps: {x: {prompt: hi}}\n",
		"both run/value":   "name: a\nsteps: {x: {kind: checkpoint, run: ls, value: 1}}\n",
		"unknown field":    "name: a\nsteps: {x: {kind: llm, prompt: hi, promt: hi}}\n",
		"bad name":         "name: A B\nsteps: {x: {kind: llm, prompt: hi}}\n",
		"wait question":    "name: a\nsteps: {x: {kind: wait}}\n",
		"bad max_output":   "name: a\nsteps: {x: {kind: checkpoint, run: ls, max_output: lots}}\n",
		"llm max_output":   "name: a\nsteps: {x: {kind: llm, prompt: hi, max_output: 1MiB}}\n",
		"huge max_output":  "name: a\nsteps: {x: {kind: checkpoint, run: ls, max_output: 2147483648}}\n",
		"lone max_turns":   "name: a\nsteps: {x: {kind: llm, prompt: hi, max_turns: 3}}\n",
		"tool run+value":   "name: a\ntools: {t: {run: ls, value: 1}}\nsteps: {x: {kind: llm, prompt: hi, tools: [t]}}\n",
		"tool array args":  "name: a\ntools: {t: {value: 1, parameters: {type: array}}}\nsteps: {x: {kind: llm, prompt: hi, tools: [t]}}\n",
		"wait tool run":    "name: a\ntools: {t: {kind: wait, question: q, run: ls}}\nsteps: {x: {kind: llm, prompt: hi, tools: [t]}}\n",
		"wait tool no q":   "name: a\ntools: {t: {kind: wait}}\nsteps: {x: {kind: llm, prompt: hi, tools: [t]}}\n",
		"question no kind": "name: a\ntools: {t: {value: 1, question: q}}\nsteps: {x: {kind: llm, prompt: hi, tools: [t]}}\n",
		"retries alone":    "name: a\nsteps: {x: {kind: llm, prompt: hi, schema_retries: 1}}\n",
		"many retries":     "name: a\nsteps: {x: {kind: llm, prompt: hi, schema: {type: object}, schema_retries: 11}}\n",
		"schema as text":   "name: a\nsteps: {x: {kind: llm, prompt: hi, schema: {type: object}, output: text}}\n",
		"schema a list":    "name: a\nsteps: {x: {kind: llm, prompt: hi, schema: [a]}}\n",
		"mcp both":         "name: a\nmcp: {f: {command: [x], url: 'http://h/'}}\nsteps: {x: {kind: llm, prompt: hi, tools: [f.a]}}\n",
		"mcp command text": "name: a\nmcp: {f: {command: 'x --y'}}\nsteps: {x: {kind: llm, prompt: hi, tools: [f.a]}}\n",
		"mcp url env":      "name: a\nmcp: {f: {url: 'http://h/', env: {A: b}}}\nsteps: {x: {kind: llm, prompt: hi, tools: [f.a]}}\n",
		"mcp dotted name":  "name: a\nmcp: {f.g: {command: [x]}}\nsteps: {x: {kind: llm, prompt: hi}}\n",
		"run with schema":  "name: a\nsteps: {x: {kind: checkpoint, run: ls, schema: {type: object}}}\n",
		"continue a word":  "name: a\nsteps: {x: {kind: checkpoint, run: ls, continue_on_error: yes please}}\n",
		"continue default": "name: a\ndefaults: {continue_on_error: true}\nsteps: {x: {kind: checkpoint, run: ls}}\n",
	}
	for name, src := range bad {
		path := filepath.Join(t.TempDir(), "f.yaml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(yamlAsJSON(t, path)); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

// The committed copy is what editors read; it must not drift.
func TestSchemaFileIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../schema/flow.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Schema()) {
		t.Errorf("schema/flow.schema.json differs from Schema(); run: go run . schema > schema/flow.schema.json")
	}
	if !strings.Contains(string(got), "2020-12") {
		t.Error("schema is not draft 2020-12")
	}
}

// The schema takes what the loader takes of mcp:.
func TestSchemaTakesMCP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte(mcpFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := compiledFlowSchema(t).Validate(yamlAsJSON(t, path)); err != nil {
		t.Errorf("the schema refuses an mcp: flow the loader takes: %v", err)
	}
}
