//go:build linux

package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A flow file that is a named pipe no one writes to blocks kitaru's open
// in the kernel. Ctrl-C and SIGTERM used to be ignored there (only kill -9
// ended it); now they end the command at once with 130 and a sentence.
func TestE2EFIFOFlowInterrupted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the blocked open through /proc")
	}
	t.Parallel()
	for _, tc := range []struct {
		cmd    string
		sig    syscall.Signal
		inputs bool // the FIFO is the --inputs file, not the flow
	}{
		{"validate", syscall.SIGINT, false},
		{"validate", syscall.SIGTERM, false},
		{"run", syscall.SIGINT, false},
		{"run", syscall.SIGTERM, false},
		{"graph", syscall.SIGTERM, false},
		{"run", syscall.SIGINT, true},
	} {
		t.Run(fmt.Sprintf("%s/%v/inputs=%v", tc.cmd, tc.sig, tc.inputs), func(t *testing.T) {
			t.Parallel()
			e := newE2E(t)
			fifo := filepath.Join(e.Dir, "f.yaml")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			args, what := []string{tc.cmd, "f.yaml"}, "the flow file"
			if tc.inputs {
				e.write("ok.yaml", "name: ok\nsteps:\n  a:\n    kind: checkpoint\n    value: 1\n")
				args, what = []string{tc.cmd, "ok.yaml", "--inputs", "f.yaml"}, "the inputs file"
			}
			cmd := e.command(args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					cmd.Wait()
				}
			})
			waitFor(t, "kitaru to block opening the FIFO", func() bool { return blockedInOpen(cmd.Process.Pid) })
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("kitaru %s still runs 10 s after %v", tc.cmd, tc.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
				t.Fatalf("exit %d, want %d\n%s%s", code, ExitInterrupted, out.String(), errb.String())
			}
			// run names the file by its absolute path.
			prefix, suffix := "kitaru: interrupted while reading "+what+" ", "f.yaml (it is a named pipe: reading it waits until something writes to it); nothing was run\n"
			if got := errb.String(); !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, suffix) || strings.Count(got, "\n") != 1 || out.Len() != 0 {
				t.Errorf("stdout %q, stderr %q; want stderr %q", out.String(), got, prefix+suffix)
			}
		})
	}
}

// blockedInOpen says whether a thread of process pid has sat in a FIFO's
// open (openat, the kernel waiting for a writer) for two looks in a row.
func blockedInOpen(pid int) bool {
	look := func() bool {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		for _, task := range tasks {
			wchan, _ := os.ReadFile(filepath.Join(task, "wchan"))
			sc, _ := os.ReadFile(filepath.Join(task, "syscall"))
			if string(wchan) == "wait_for_partner" || strings.HasPrefix(string(sc), fmt.Sprintf("%d ", syscall.SYS_OPENAT)) {
				return true
			}
		}
		return false
	}
	if !look() {
		return false
	}
	time.Sleep(100 * time.Millisecond)
	return look()
}

// Pipes that have a writer still work: a shell's process substitution
// (/dev/fd/63) and /dev/stdin.
func TestE2EFlowFromPipe(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("ok.yaml", "name: piped\nsteps:\n  a:\n    kind: checkpoint\n    value: 1\n")
	for _, tc := range []struct{ script, want string }{
		{`"$0" validate <(cat "$1")`, "/dev/fd/"},
		{`"$0" validate /dev/stdin < "$1"`, "/dev/stdin: ok (1 step)\n"},
		{`cat "$1" | "$0" validate /dev/stdin`, "/dev/stdin: ok (1 step)\n"},
		{`"$0" run <(cat "$1") --json >/dev/null && echo ran`, "ran\n"},
	} {
		cmd := exec.Command("bash", "-c", tc.script, e.bin, flow)
		cmd.Env, cmd.Dir = e.Env, e.Dir
		got, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(got), tc.want) {
			t.Errorf("%s: %v\n%s", tc.script, err, got)
		}
	}
}
