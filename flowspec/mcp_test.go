package flowspec

import (
	"slices"
	"strings"
	"testing"
)

const mcpFlow = `name: agent
tools:
  add: {value: 1}
mcp:
  files:
    command: [my-mcp-server, --root, .]
    env: {LEVEL: debug}
    secrets: [files_token]
  web:
    url: https://mcp.example.com/mcp
    headers: {Authorization: "Bearer secret:web-creds/TOKEN", X-Team: research}
steps:
  research:
    kind: llm
    prompt: hi
    tools: [add, files.read_file, web.*]
`

func TestMCPCompile(t *testing.T) {
	t.Parallel()
	for _, lazy := range []bool{false, true} {
		f, err := Parse("t.yaml", []byte(mcpFlow), Options{Lazy: lazy})
		if err != nil {
			t.Fatal(err)
		}
		files := f.MCPServer("files")
		if files == nil || !slices.Equal(files.Command, []string{"my-mcp-server", "--root", "."}) ||
			len(files.Env) != 1 || files.Env[0] != [2]string{"LEVEL", "debug"} || !slices.Equal(files.Secrets, []string{"files_token"}) {
			t.Fatalf("lazy=%v: server %+v", lazy, files)
		}
		if web := f.MCPServer("web"); web == nil || web.URL != "https://mcp.example.com/mcp" || web.Command != nil ||
			!slices.Equal(web.Headers, [][2]string{{"Authorization", "Bearer secret:web-creds/TOKEN"}, {"X-Team", "research"}}) {
			t.Fatalf("web %+v", web)
		}
		if !slices.ContainsFunc(f.Uses, func(u Use) bool { return u.Kind == UseSecret && u.Name == "web-creds" && u.Pos.Line == 11 }) {
			t.Errorf("uses %+v: no secret web-creds at line 11", f.Uses)
		}
		l := f.byID["research"].LLM
		if len(l.Tools) != 1 || len(l.MCP) != 2 || l.MCP[0].Name() != "files.read_file" || l.MCP[1].Name() != "web.*" || l.MCP[1].Server != f.MCPServer("web") {
			t.Fatalf("tools %v, mcp %+v", l.Tools, l.MCP)
		}
		if l.MaxTurns != DefaultMaxTurns {
			t.Errorf("max_turns %d", l.MaxTurns)
		}
	}
}

func TestMCPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, mcp, tools, want string
	}{
		{"no body", "f: {env: {A: b}}", "[f.x]", `3:6: MCP server "f" needs command: [program, args...] (a stdio server) or url:`},
		{"both", "f: {command: [x], url: 'http://h/'}", "[f.x]", "has both command and url"},
		{"command as text", "f: {command: 'my-server --root .'}", "[f.x]", "command must be a list of the program and its arguments"},
		{"empty program", "f: {command: ['', a]}", "[f.x]", "the program, is empty"},
		{"template in command", "f: {command: [x, '${{ inputs.a }}']}", "[f.x]", "command is not a template"},
		{"bad url", "f: {url: 'ftp://h/x'}", "[f.x]", "url must be an http:// or https:// address"},
		{"env with url", "f: {url: 'http://h/', env: {A: b}}", "[f.x]", "env and secrets go with command:"},
		{"headers with command", "f: {command: [x], headers: {X-A: b}}", "[f.x]", "3:21: MCP server \"f\": headers go with url:"},
		{"headers not a mapping", "f: {url: 'http://h/', headers: [a]}", "[f.x]", "headers must be a mapping of Name: value"},
		{"literal token", "f: {url: 'http://h/', headers: {Authorization: 'Bearer abc123'}}", "[f.x]", `3:50: MCP server "f": header Authorization looks like a credential, which the flow file and every run's record would hold as is`},
		{"literal key", "f: {url: 'http://h/', headers: {X-Api-Key: abc123}}", "[f.x]", "header X-Api-Key looks like a credential"},
		{"template header", "f: {url: 'http://h/', headers: {X-A: '${{ inputs.a }}'}}", "[f.x]", "header values are not templates"},
		{"ref without key", "f: {url: 'http://h/', headers: {Authorization: 'secret:creds'}}", "[f.x]", `header Authorization: "secret:creds" names no key`},
		{"reserved header", "f: {url: 'http://h/', headers: {Mcp-Session-Id: x}}", "[f.x]", "header Mcp-Session-Id is set by kitaru itself"},
		{"header twice", "f: {url: 'http://h/', headers: {X-A: a, x-a: b}}", "[f.x]", `header x-a is given twice (as "X-A" and "x-a")`},
		{"bad header name", "f: {url: 'http://h/', headers: {'X A': a}}", "[f.x]", `header name "X A" is not valid`},
		{"bad env name", "f: {command: [x], env: {1A: b}}", "[f.x]", `"1A" is not a valid environment variable name`},
		{"bad name", "f.g: {command: [x]}", "[f.x]", "a server's name may hold only letters"},
		{"double underscore", "a__b: {command: [x]}", "[a__b.x]", "a server's name may hold only letters, digits, - and single _"},
		{"typo", "f: {comand: [x]}", "[f.x]", `unknown MCP server field "comand"; did you mean "command"?`},
		{"unknown server", "files: {command: [x]}", "[file.read]", `8:13: step "s": tool "file.read": unknown MCP server "file"; did you mean "files"?`},
		{"no servers", "", "[files.read]", "the flow declares no MCP servers"},
		{"no tool", "f: {command: [x]}", "[f.]", `names no tool of server f; write f.TOOL or f.*`},
		{"twice", "f: {command: [x]}", "[f.a, f.a]", `tool "f.a" is listed twice`},
		{"all and one", "f: {command: [x]}", "[f.*, f.a]", `tool "f.a" is listed twice (f.* offers every tool of f)`},
		{"one and all", "f: {command: [x]}", "[f.a, f.*]", `tool "f.*" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "name: f\nmcp:\n  " + tt.mcp + "\nsteps:\n  s:\n    kind: llm\n    prompt: hi\n    tools: " + tt.tools + "\n"
			_, err := Parse("f.yaml", []byte(src), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant %q in it; flow:\n%s", err, tt.want, src)
			}
		})
	}
}

// The fingerprint and the cache key cover the servers a step offers tools
// of, and the key what they serve.
func TestMCPFingerprintAndDigest(t *testing.T) {
	t.Parallel()
	research := func(src string) *Step { return mustParse(t, src).byID["research"] }
	base := research(mcpFlow)
	key := func(s *Step, served any) string { return ToolsDigest(s.LLM.Tools, s.LLM.MCP, served) }
	for name, c := range map[string][2]string{
		"server command": {"--root, .", "--root, /"},
		"server env":     {"LEVEL: debug", "LEVEL: info"},
		"server url":     {"mcp.example.com", "mcp2.example.com"},
		"server headers": {"X-Team: research", "X-Team: ops"},
		"tool used":      {"files.read_file", "files.write_file"},
	} {
		src := strings.Replace(mcpFlow, c[0], c[1], 1)
		if src == mcpFlow {
			t.Fatalf("%s: nothing replaced", name)
		}
		s := research(src)
		if s.Fingerprint() == base.Fingerprint() {
			t.Errorf("changing the %s left the fingerprint as it was", name)
		}
		if key(s, nil) == key(base, nil) {
			t.Errorf("changing the %s left the cache key as it was", name)
		}
	}
	if key(base, []string{"a"}) == key(base, []string{"b"}) {
		t.Error("what the servers serve is not in the cache key")
	}
}
