package engine

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/internal/mcptest"
	"github.com/kitaruhq/kitaru/providers"
)

// mcpAgentFlow offers the tools of server files (SERVER: how it is
// reached) to an llm step.
const mcpAgentFlow = `
name: mcpagent
mcp:
  files:
SERVER
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Read the note.
    tools: [TOOLS]
output: ${{ steps.research.output }}
`

// stdioServer is this test binary as the stdio server, counting its calls
// in te.counter; extra lines go under it.
func stdioServer(t *testing.T, te *testEnv, extra string) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return "    command: [" + strconv.Quote(bin) + "]\n" +
		"    env: {" + mcptest.EnvServe + ": '1', " + mcptest.EnvCounter + ": " + strconv.Quote(te.counter) + ", " + mcptest.EnvMayDie + ": '1'}\n" + extra
}

// httpServer is the test server over streamable HTTP, in this process.
func httpServer(t *testing.T, te *testEnv) string {
	srv := httptest.NewServer(mcptest.Handler(te.counter))
	t.Cleanup(srv.Close)
	return "    url: " + srv.URL + "\n"
}

func mcpSource(server, tools string) string {
	return strings.NewReplacer("SERVER", strings.TrimRight(server, "\n"), "TOOLS", tools).Replace(mcpAgentFlow)
}

// writeNote writes the note the read_file tool is to read.
func writeNote(t *testing.T) string {
	t.Helper()
	note := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(note, []byte("the note says 42"), 0o600); err != nil {
		t.Fatal(err)
	}
	return note
}

// log is a run's log.txt.
func (te *testEnv) log(id string) string {
	te.t.Helper()
	data, err := os.ReadFile(filepath.Join(te.files.RunDir(id), "log.txt"))
	if err != nil {
		te.t.Fatal(err)
	}
	return string(data)
}

// An agent loop through the real OpenAI client calls the MCP server's
// tools, over stdio and over streamable HTTP: the model knows them as
// files__TOOL, the record as files.TOOL; arguments that break the
// server's input schema go back to the model without reaching the
// server; a tool's own error goes back too.
func TestAgentMCPTools(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			note := writeNote(t)
			calls := []string{"files__read_file", `{"path":` + strconv.Quote(note) + `}`, "files__add", `{"a":1}`,
				"files__add", `{"a":1,"b":2}`, "files__fail", `{}`}
			if transport == "stdio" {
				calls = append(calls, "files__env", `{"name":"TOKEN"}`)
			}
			srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls(calls...)}, fakellm.Turn{Text: "42"})
			defer srv.Close()
			te := agentEnv(t, srv, 4)
			te.eng.cfg.Secrets = fakeSecrets{"webhook": {"TOKEN": "s3cr3t-value"}}
			server := httpServer(t, te)
			if transport == "stdio" {
				server = stdioServer(t, te, "    secrets: [webhook]\n")
			}
			run := te.start(te.flow(mcpSource(server, "files.*")), nil)
			wantStatus(t, run, RunCompleted)
			r := step(t, run, "research")
			if len(r.Turns) != 2 || len(r.Turns[0].ToolCalls) != len(calls)/2 {
				t.Fatalf("turns %+v", r.Turns)
			}
			got := r.Turns[0].ToolCalls
			for i, want := range []string{"files.read_file", "files.add", "files.add", "files.fail"} {
				if got[i].Name != want {
					t.Errorf("call %d is recorded as %q, want %q", i+1, got[i].Name, want)
				}
			}
			if got[0].Output != "the note says 42" {
				t.Errorf("read_file: %+v", got[0])
			}
			if got[1].Error == nil || !strings.Contains(*got[1].Error, "do not match the input schema of tool files.add") || !strings.Contains(*got[1].Error, "b") {
				t.Errorf("add without b: %+v", got[1])
			}
			if m, _ := got[2].Output.(map[string]any); m["sum"] != 3.0 {
				t.Errorf("add: %+v", got[2])
			}
			if got[3].Error == nil || *got[3].Error != "the disk is on fire" {
				t.Errorf("fail: %+v", got[3])
			}
			if n := te.count("add"); n != 1 {
				t.Errorf("add reached the server %d times, want 1 (the call breaking its schema does not)", n)
			}
			req := srv.Requests()
			for _, name := range []string{"files__read_file", "files__add", "files__fail", "files__die"} {
				if !slices.Contains(req[0].Tools, name) {
					t.Errorf("the model was not offered %s: %v", name, req[0].Tools)
				}
			}
			if sent := req[1].Results[fakellm.CallID(1, 1)]; sent != "the note says 42" {
				t.Errorf("the model was sent %q for read_file", sent)
			}
			if transport == "stdio" {
				// The server's secret is masked in its output and its stderr.
				if got[4].Output != "***" || !r.Masked {
					t.Errorf("env: %+v, masked %v", got[4], r.Masked)
				}
				log := te.log(run.ID)
				if !strings.Contains(log, "MCP server files: env TOKEN is ***") || strings.Contains(log, "s3cr3t-value") {
					t.Errorf("log:\n%s", log)
				}
			}
		})
	}
}

// The step fails, saying so, when a tool it names is not served, when
// the server cannot start, or when the server dies while a tool runs.
func TestAgentMCPFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tools, server string // server "": this test binary
		script              []fakellm.Turn
		want                string
	}{
		{name: "unknown tool", tools: "files.read_fil", want: `tool files.read_fil: MCP server files has no tool "read_fil"; its tools are `},
		{name: "cannot start", tools: "files.*", server: "    command: [./no-such-mcp-server]\n", want: "MCP server files could not be started (command ./no-such-mcp-server)"},
		{name: "dies", tools: "files.die", script: []fakellm.Turn{{Calls: fakellm.Calls("files__die", `{}`)}, {Text: "never"}},
			want: "tool files.die: MCP server files exited (exit status 3) while tool die ran; its stderr, if it wrote any, is in the run log; the step's retry starts it again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakellm.New("openai", tt.script...)
			defer srv.Close()
			te := agentEnv(t, srv, 2)
			server := tt.server
			if server == "" {
				server = stdioServer(t, te, "")
			}
			run := te.start(te.flow(mcpSource(server, tt.tools)), nil)
			wantStatus(t, run, RunFailed)
			r := step(t, run, "research")
			if r.Error == nil || !strings.Contains(*r.Error, tt.want) {
				t.Fatalf("error %v, want %q", r.Error, tt.want)
			}
			if len(tt.script) == 0 && len(srv.Requests()) != 0 {
				t.Errorf("the model was asked %d times", len(srv.Requests()))
			}
			if tt.name == "dies" && (len(r.Turns) != 1 || !r.Turns[0].ToolCalls[0].Pending) {
				t.Errorf("the call cut short by the server's end has a result: %+v", r.Turns)
			}
		})
	}
}

// A run killed after one of a turn's two MCP calls is recorded resumes
// without calling it again: the server (started anew) serves only the
// other, and no turn is asked twice.
func TestAgentMCPCrashResume(t *testing.T) {
	t.Parallel()
	note := writeNote(t)
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("files__read_file", `{"path":`+strconv.Quote(note)+`}`, "files__add", `{"a":1,"b":2}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 1)
	flowFile := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(flowFile, []byte(mcpSource(stdioServer(t, te, ""), "files.read_file, files.add")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KITARU_TEST_FLOW=" + flowFile, "KITARU_TEST_KILL_AT=turn:after-record", "KITARU_TEST_KILL_N=2", // turn 1, its first call
		"KITARU_TEST_MODELS=1", "OPENAI_API_KEY=sk-test-123456789", "OPENAI_BASE_URL=" + srv.URL, providers.EnvMockResponse + "="}
	child, line := startChild(t, "run", te.home, env, "run ")
	wantKilled(t, child)
	if n := te.count("read_file"); n != 1 || te.count("add") != 0 {
		t.Fatalf("before the resume read_file ran %d times, add %d", n, te.count("add"))
	}
	run, err := te.eng.Resume(t.Context(), strings.TrimPrefix(line, "run "), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	if n := te.count("read_file"); n != 1 {
		t.Errorf("read_file ran %d times, want 1: the resume called it again", n)
	}
	if n := te.count("add"); n != 1 {
		t.Errorf("add ran %d times, want 1", n)
	}
	if asked := srv.Asked(); len(asked) != 2 || asked[1] != 1 || asked[2] != 1 {
		t.Errorf("asked %v, want each turn once", asked)
	}
	calls := step(t, run, "research").Turns[0].ToolCalls
	if calls[0].Output != "the note says 42" || calls[0].Name != "files.read_file" {
		t.Errorf("calls %+v", calls)
	}
}

// With cache:, a second run takes the answer without calling the MCP
// tool; a server serving another schema is another key.
func TestAgentMCPCached(t *testing.T) {
	t.Parallel()
	note := writeNote(t)
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("files__read_file", `{"path":`+strconv.Quote(note)+`}`)}, fakellm.Turn{Text: "42"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	src := strings.Replace(mcpSource(httpServer(t, te), "files.read_file"), "    tools:", "    cache: true\n    tools:", 1)
	f := te.flow(src)
	for i := range 2 {
		run := te.start(f, nil)
		wantStatus(t, run, RunCompleted)
		if run.Output != "42" || len(srv.Requests()) != 2 || te.count("read_file") != 1 {
			t.Fatalf("run %d: output %v, %d requests, read_file ran %d times", i+1, run.Output, len(srv.Requests()), te.count("read_file"))
		}
		if why := step(t, run, "research").Why; (i == 1) != (why != nil && why.Code == runstore.ReasonCached) {
			t.Errorf("run %d: why %+v", i+1, why)
		}
	}
}

// A URL server's headers take their credential from a secret: the server
// is reached with it, and the value never reaches the run's records or
// log, even when a tool's output holds it.
func TestAgentMCPHeadersFromSecret(t *testing.T) {
	t.Parallel()
	const token = "web-token-0123456789"
	note := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(note, []byte("the token is "+token), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("files__read_file", `{"path":`+strconv.Quote(note)+`}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	te.eng.cfg.Secrets = fakeSecrets{"web": {"TOKEN": token}}
	inner := mcptest.Handler(te.counter)
	var refused atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			refused.Add(1)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	server := "    url: " + hs.URL + "\n    headers: {Authorization: \"Bearer secret:web/TOKEN\"}\n"
	run := te.start(te.flow(mcpSource(server, "files.read_file")), nil)
	wantStatus(t, run, RunCompleted)
	if n := refused.Load(); n != 0 {
		t.Errorf("the server refused %d requests", n)
	}
	r := step(t, run, "research")
	if got := r.Turns[0].ToolCalls[0].Output; got != "the token is ***" {
		t.Errorf("read_file's output is recorded as %q", got)
	}
	err := filepath.WalkDir(te.files.RunDir(run.ID), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if data, _ := os.ReadFile(p); strings.Contains(string(data), token) {
			t.Errorf("%s holds the token", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
