package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/flowspec"
)

func writeFlow(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const badFlow = `name: bad
steps:
  a:
    kind: llm
    promt: hi
  b:
    kind: llm
    model: nosuch/model
    prompt: ${{ steps.z.output }}
`

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	// Checked against an empty machine, not the one the tests run on.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("KITARU_MODEL_REGISTRY", "")
	t.Setenv("KITARU_LLM_MOCK_RESPONSE", "")
	for _, f := range files {
		out, errOut, code := runCLI("validate", f)
		if code != ExitOK || !strings.HasPrefix(out, f+": ok (") || onlyWarnings(errOut, exampleNeeds...) != nil {
			t.Errorf("validate %s: code %d, stdout %q, stderr %q", f, code, out, errOut)
		}
		for _, format := range []string{"mermaid", "dot"} {
			out, errOut, code := runCLI("graph", f, "--format", format)
			if code != ExitOK || out == "" {
				t.Errorf("graph %s --format %s: code %d, stderr %q", f, format, code, errOut)
			}
		}
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	p := writeFlow(t, badFlow)
	out, errOut, code := runCLI("validate", p)
	if code != ExitUsage {
		t.Errorf("exit code %d, want %d", code, ExitUsage)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	for _, want := range []string{
		p + `:5:5: step "a": unknown field "promt"; did you mean "prompt"?`,
		p + `:8:12: model "nosuch/model"`,
		p + `:9:23: step "b" prompt: unknown step "z"; expected one of: a, b`,
		p + ": 3 errors",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	for _, args := range [][]string{{"--json"}, {"-o", "json"}} {
		p := writeFlow(t, badFlow)
		out, _, code := runCLI(append([]string{"validate", p}, args...)...)
		if code != ExitUsage {
			t.Errorf("exit code %d, want %d", code, ExitUsage)
		}
		var rep struct {
			File   string `json:"file"`
			Valid  bool   `json:"valid"`
			Errors []struct {
				Line    int    `json:"line"`
				Col     int    `json:"col"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
		}
		if rep.File != p || rep.Valid || len(rep.Errors) != 3 || rep.Errors[0].Line != 5 || rep.Errors[0].Col != 5 {
			t.Errorf("report %+v", rep)
		}
	}
	out, _, code := runCLI("validate", "--json", "../examples/llm_writer.yaml")
	if code != ExitOK || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"errors": []`) {
		t.Errorf("valid flow: code %d, %s", code, out)
	}
}

func TestValidateMissingFile(t *testing.T) {
	_, errOut, code := runCLI("validate", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != ExitUsage || !strings.Contains(errOut, "cannot read the flow file") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestGraph(t *testing.T) {
	out, _, code := runCLI("graph", "../examples/llm_writer.yaml")
	if code != ExitOK || !strings.HasPrefix(out, "flowchart TD\n") || !strings.Contains(out, "outline --> draft\n") {
		t.Errorf("mermaid: code %d\n%s", code, out)
	}
	out, _, code = runCLI("graph", "../examples/llm_writer.yaml", "--format", "dot")
	if code != ExitOK || !strings.Contains(out, `"outline" -> "draft";`) {
		t.Errorf("dot: code %d\n%s", code, out)
	}
	out, _, code = runCLI("graph", "../examples/llm_writer.yaml", "--json")
	if code != ExitOK || !strings.Contains(out, `"from": "outline"`) {
		t.Errorf("json: code %d\n%s", code, out)
	}
	_, _, code = runCLI("graph", writeFlow(t, badFlow))
	if code != ExitUsage {
		t.Errorf("graph of an invalid flow: code %d, want %d", code, ExitUsage)
	}
	_, _, code = runCLI("graph", "../examples/llm_writer.yaml", "--format", "png")
	if code != ExitUsage {
		t.Errorf("unknown format: code %d, want %d", code, ExitUsage)
	}
}

func TestSchemaCommand(t *testing.T) {
	out, _, code := runCLI("schema")
	if code != ExitOK || out != string(flowspec.Schema()) {
		t.Errorf("schema: code %d, output differs from flowspec.Schema()", code)
	}
	committed, err := os.ReadFile("../schema/flow.schema.json")
	if err != nil || string(committed) != out {
		t.Errorf("schema/flow.schema.json differs from kitaru schema (%v)", err)
	}
}

func TestFlowCommandsHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"validate", "graph", "schema"} {
		out, _, code := runCLI(cmd, "--help")
		if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "kitaru "+cmd) {
			t.Errorf("%s --help: code %d\n%s", cmd, code, out)
		}
	}
}

func TestGraphText(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"fan_out", "shell_and_llm", "llm_writer"} {
		out, errOut, code := runCLI("graph", "../examples/"+name+".yaml", "--format", "text")
		if code != 0 {
			t.Fatalf("graph %s: exit %d\n%s", name, code, errOut)
		}
		checkGolden(t, "cli/graph_"+name+".txt.golden", out)
	}
}

// validate takes mcp: and checks what it can without starting a server:
// the servers' fields, and that a step's SERVER.TOOL names one of them.
func TestValidateMCP(t *testing.T) {
	good := writeFlow(t, "name: m\nmcp:\n  files: {command: [my-mcp-server, --root, .]}\n  web: {url: 'https://mcp.example.com/mcp'}\nsteps:\n  a:\n    kind: llm\n    model: mock\n    prompt: hi\n    tools: [files.read_file, web.*]\n")
	if out, errOut, code := runCLI("validate", good); code != ExitOK || !strings.HasPrefix(out, good+": ok (") {
		t.Errorf("validate: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := writeFlow(t, "name: m\nmcp:\n  files: {command: my-mcp-server}\nsteps:\n  a:\n    kind: llm\n    model: mock\n    prompt: hi\n    tools: [file.read_file]\n")
	_, errOut, code := runCLI("validate", bad)
	for _, want := range []string{
		bad + `:3:20: MCP server "files": command must be a list of the program and its arguments`,
		bad + `:9:13: step "a": tool "file.read_file": unknown MCP server "file"; did you mean "files"?`,
		bad + ": 2 errors", // a bad command is not a missing one too
	} {
		if code != ExitUsage || !strings.Contains(errOut, want) {
			t.Errorf("code %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
}
