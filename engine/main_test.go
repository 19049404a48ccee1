package engine

import (
	"fmt"
	"os"
	"testing"

	"github.com/kitaruhq/kitaru/internal/mcptest"
	"github.com/kitaruhq/kitaru/providers"
)

// childEnv, when set, turns the test binary into a child process that does
// one job (named by the variable) and then sleeps or exits; crash tests
// SIGKILL such children to leave real half-finished runs behind.
const childEnv = "KITARU_ENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	// Before childEnv: a child's MCP server inherits the child's variables.
	mcptest.Main()
	if job := os.Getenv(childEnv); job != "" {
		if err := runChild(job); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Runs record it and replays compare it: the developer's own setting
	// must not reach the goldens or the tests of what it changes.
	os.Unsetenv(providers.EnvDefaultModel)
	os.Exit(m.Run())
}
