package engine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runChild does the job a parent test asked for in a child process.
func runChild(job string) error {
	if strings.HasPrefix(job, "run") {
		return runFlowChild(job)
	}
	return fmt.Errorf("unknown child job %q", job)
}

// startChild starts the test binary as a child doing job and waits until it
// prints a line starting with ready (when ready is not "").
func startChild(t *testing.T, job, home string, env []string, ready string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+job, "KITARU_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if ready != "" {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, ready) {
				go func() {
					for sc.Scan() {
					}
				}()
				return cmd, line
			}
		}
		t.Fatalf("child %s ended before saying %q", job, ready)
	}
	return cmd, ""
}

// waitFor polls cond until it holds (at most 10 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("gave up waiting")
}
