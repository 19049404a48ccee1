package cli

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A kitaru started with SIGINT ignored (as a shell script starts its
// background jobs) keeps it ignored: the run goes on. SIGTERM still stops it.
func TestE2EIgnoredInterruptStaysIgnored(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("bg.yaml", `name: bg
steps:
  slow:
    kind: checkpoint
    run: while [ ! -f @D@/go ]; do echo x >> @D@/beat; sleep 0.05; done; echo done
`)
	// `trap "" INT` ignores SIGINT; exec keeps that for kitaru.
	cmd := exec.Command("sh", "-c", `trap "" INT; exec "$0" "$@"`, e.bin, "run", flow)
	cmd.Env, cmd.Dir = e.Env, e.Dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	finished := false
	t.Cleanup(func() {
		if !finished {
			cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, "the step to start", func() bool { return e.count("beat") > 0 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Had kitaru taken the SIGINT, it would stop the step and exit at once;
	// the step beating on for many more rounds shows it did not.
	seen := e.count("beat")
	var early error
	gone := false
	waitFor(t, "the step to go on after SIGINT", func() bool {
		select {
		case early = <-exited:
			gone, finished = true, true
			return true
		default:
		}
		return e.count("beat") > seen+10
	})
	if gone {
		t.Fatalf("kitaru stopped on an ignored SIGINT (%v)\nstdout:\n%s\nstderr:\n%s", early, out.String(), errb.String())
	}
	e.write("go", "")
	err := <-exited
	finished = true
	if err != nil {
		t.Fatalf("kitaru with SIGINT ignored: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "slow completed") {
		t.Errorf("the run did not finish its step:\n%s\n%s", out.String(), errb.String())
	}
}
