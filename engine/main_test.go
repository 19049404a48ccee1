package engine

import (
	"fmt"
	"os"
	"testing"
)

// childEnv, when set, turns the test binary into a child process that does
// one job (named by the variable) and then sleeps or exits; crash tests
// SIGKILL such children to leave real half-finished runs behind.
const childEnv = "KITARU_ENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		if err := runChild(job); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
