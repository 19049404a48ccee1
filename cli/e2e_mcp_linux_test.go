package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kitaruhq/kitaru/internal/mcptest"
)

// mcpFlow is a flow whose step offers the tools of a stdio MCP server, the
// test binary, counting its calls in the work dir; extra is more of its
// env: entries.
func (e *e2e) mcpFlow(name, tool, extra string) string {
	e.t.Helper()
	bin, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.flow(name, `name: mcp
mcp:
  srv:
    command: [`+strconv.Quote(bin)+`]
    env: {`+mcptest.EnvServe+`: "1", `+mcptest.EnvCounter+`: "@D@"`+extra+`}
steps:
  ask:
    kind: llm
    prompt: go
    tools: [srv.`+tool+`]
output: ${{ steps.ask.output }}
`)
}

// kitaru killed with SIGKILL while an MCP tool call runs: the stdio server
// (one that would not notice its stdin closing) does not outlive it, and a
// resume calls the tool again (its call was not recorded) and completes.
func TestE2EKilledDuringMCPCallLeavesNoServer(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	e.setenv("KITARU_LLM_MOCK_RESPONSE", "all done")
	flow := e.mcpFlow("mcp.yaml", "hang", `, `+mcptest.EnvDeaf+`: "1"`)
	cmd, _, stderr := e.startUntil("hang", "run", flow)
	pid := e.pid("hang.pid")
	t.Cleanup(func() { killGroup(pid) })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, "the MCP server to end with the kitaru that started it", func() bool { return len(liveInGroup(pid)) == 0 })
	r := e.must(0, "resume", "last")
	if printedOutput(t, r.Stdout) != "all done" {
		t.Errorf("resume printed %s\nthe first go said:\n%s", r, stderr)
	}
	if n := e.count("hang"); n != 2 {
		t.Errorf("the tool was called %d times, want 2 (the killed call, then the resumed one)", n)
	}
	get := e.must(0, "executions", "get", "last", "--step", "ask")
	if !strings.Contains(get.Stdout, "done at last") {
		t.Errorf("the step does not show the tool's answer:\n%s", get.Stdout)
	}
}

// alive says whether process pid lives (a zombie does not count).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	rest := string(b)
	if k := strings.LastIndexByte(rest, ')'); k >= 0 {
		rest = rest[k+1:]
	}
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z"
}

// A server started by a wrapper (sh, as npx or uv start theirs) is the
// wrapper's child: killed with SIGKILL, kitaru takes the wrapper with it,
// not the server, which lives on when it ignores its stdin closing. The
// resume stops it first, as what was left of the run, and says so; so
// does a cancel of the run, which nothing will resume.
func TestE2EResumeStopsAnMCPServerLeftBehind(t *testing.T) {
	for _, then := range []string{"resume", "cancel"} {
		t.Run(then, func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			e.setenv("KITARU_LLM_MOCK_RESPONSE", "all done")
			bin, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			flow := e.flow("mcp.yaml", `name: mcp
mcp:
  srv:
    command: [sh, -c, 'exec 3<&0; `+strconv.Quote(bin)+` <&3 & wait']
    env: {`+mcptest.EnvServe+`: "1", `+mcptest.EnvCounter+`: "@D@", `+mcptest.EnvDeaf+`: "1"}
steps:
  ask:
    kind: llm
    prompt: go
    tools: [srv.hang]
output: ${{ steps.ask.output }}
`)
			cmd, _, _ := e.startUntil("hang", "run", flow)
			pid := e.pid("hang.pid")
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			waitFor(t, "kitaru to note the server's process group", func() bool {
				rec, _ := filepath.Glob(filepath.Join(e.Home, "runs", "*", "mcp-srv.pgid"))
				return len(rec) > 0
			})
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if !alive(pid) {
				t.Skip("the server did not outlive kitaru here: nothing left to stop")
			}
			if then == "resume" {
				if r := e.must(0, "resume", "last"); printedOutput(t, r.Stdout) != "all done" {
					t.Errorf("resume printed %s", r)
				}
			} else {
				e.must(0, "executions", "cancel", "last")
			}
			if alive(pid) {
				t.Errorf("the server left behind (pid %d) still runs after the %s", pid, then)
			}
			logs := e.must(0, "executions", "logs", "last")
			if !strings.Contains(logs.Stdout, "MCP server srv: stopped what was left running of it: process group") {
				t.Errorf("the log does not say the server left behind was stopped:\n%s", logs.Stdout)
			}
			if left, _ := filepath.Glob(filepath.Join(e.Home, "runs", "*", "mcp-srv.pgid")); len(left) > 0 {
				t.Errorf("process group records left behind: %v", left)
			}
		})
	}
}
