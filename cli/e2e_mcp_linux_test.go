package cli

import (
	"os"
	"strconv"
	"strings"
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
