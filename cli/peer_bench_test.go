package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkShell100VsTask runs 100 commands one after another, as 100
// chained `run: true` steps of kitaru and as one go-task task of 100
// commands, alternately so both see the same machine, each as the process
// a user starts. go-task runs `true` in its own shell interpreter without
// a process, so its commands are `/bin/true` (a process each, as kitaru's
// steps are). It reports x-task (kitaru's time over go-task's; issue 11's
// goal is ≤ 1.5). It needs `task` on PATH (go install
// github.com/go-task/task/v3/cmd/task@latest) and is skipped without it.
func BenchmarkShell100VsTask(b *testing.B) {
	taskBin, err := exec.LookPath("task")
	if err != nil {
		b.Skip("go-task (task) is not on PATH")
	}
	bin := kitaruBinary(b)
	dir := b.TempDir()
	var flow, tasks strings.Builder
	flow.WriteString("name: hundred\nsteps:\n")
	tasks.WriteString("version: '3'\ntasks:\n  default:\n    cmds:\n")
	for i := range 100 {
		if i == 0 {
			fmt.Fprintf(&flow, "  s0: {kind: checkpoint, run: 'true'}\n")
		} else {
			fmt.Fprintf(&flow, "  s%d: {kind: checkpoint, run: 'true', needs: [s%d]}\n", i, i-1)
		}
		tasks.WriteString("      - /bin/true\n")
	}
	flowPath := filepath.Join(dir, "hundred.yaml")
	if err := os.WriteFile(flowPath, []byte(flow.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Taskfile.yml"), []byte(tasks.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "KITARU_HOME="+filepath.Join(dir, "home"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "NO_COLOR=1")
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
		return time.Since(start)
	}
	var tk, tt time.Duration
	for b.Loop() {
		tk += run(bin, "run", "--parallel", "1", flowPath)
		tt += run(taskBin, "--silent")
	}
	b.ReportMetric(float64(tk.Nanoseconds())/float64(b.N), "ns/kitaru")
	b.ReportMetric(float64(tt.Nanoseconds())/float64(b.N), "ns/task")
	b.ReportMetric(float64(tk)/float64(tt), "x-task")
}
