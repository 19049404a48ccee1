//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
)

// A ^C (or a supervisor's SIGTERM to every process) can reach a step's
// command before kitaru: the command dies of the signal a moment before the
// run's context ends. The step was stopped by the interruption: it is not
// failed, not retried, the run exits 130 interrupted and resume runs it.
func TestE2ESignalReachesTheStepFirst(t *testing.T) {
	for _, tc := range []struct {
		sig   syscall.Signal
		retry string
	}{
		// Without retries the step would end failed and the run with it.
		{syscall.SIGINT, ""},
		// With retries it would be tried again.
		{syscall.SIGTERM, "retry: {attempts: 3}"},
	} {
		sig := tc.sig
		t.Run(sig.String(), func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			flow := e.flow("race.yaml", `name: race
steps:
  quick:
    kind: checkpoint
    run: echo x >> @D@/quick.done; echo q
  slow:
    kind: checkpoint
    needs: [quick]
    `+tc.retry+`
    run: echo x >> @D@/slow.start; if [ -f @D@/go ]; then echo s; else echo $$ > @D@/slow.tmp; mv @D@/slow.tmp @D@/slow.pid; sleep 60; fi
`)
			cmd := e.command("run", flow)
			// kitaru leads its own process group, like a job the shell
			// started in the foreground.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					cmd.Wait()
				}
			})
			pidFile := filepath.Join(e.Dir, "slow.pid")
			waitFor(t, "the slow step to run", func() bool { _, err := os.Stat(pidFile); return err == nil })
			pgid := e.pid("slow.pid")
			// The command's group first; kitaru's a moment after its
			// command is gone.
			if err := syscall.Kill(-pgid, sig); err != nil {
				t.Fatal(err)
			}
			// Usually it dies at once; a signal that lands in a child
			// between fork and exec is lost (dash catches SIGINT under -c
			// and the exec resets it), and kitaru's kill ends it instead.
			for range 100 {
				if len(liveInGroup(pgid)) == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			syscall.Kill(-cmd.Process.Pid, sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
				t.Fatalf("exit %d, want 130\n%s\n%s", code, out.String(), errb.String())
			}
			id := announcedID(t, out.String())
			rec := e.record(id)
			if rec.Status != engine.RunInterrupted {
				t.Errorf("the run is %s, want interrupted", rec.Status)
			}
			if s := stepOf(t, rec, "slow"); s.Status == engine.StepFailed || s.Status == engine.StepCompleted {
				t.Errorf("the step stopped with the run is recorded %s (%v); it must be left for resume", s.Status, s.Error)
			}
			if n, retried := e.count("slow.start"), e.journalHas(string(engine.EventStepRetrying), "slow"); n != 1 || retried {
				t.Errorf("the step stopped with the run was retried (%d starts, retrying event: %v)", n, retried)
			}
			e.write("go", "")
			done := decodeRun(t, e.must(0, "resume", id, "--json", "--quiet").Stdout)
			if done.Status != engine.RunCompleted || stepOf(t, done, "slow").Output != "s" {
				t.Errorf("resume: run %s, slow output %v", done.Status, stepOf(t, done, "slow").Output)
			}
			if e.count("quick.done") != 1 || e.count("slow.start") != 2 {
				t.Errorf("quick ran %d times, slow started %d times; want 1 and 2", e.count("quick.done"), e.count("slow.start"))
			}
		})
	}
}
