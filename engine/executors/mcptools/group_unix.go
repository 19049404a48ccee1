//go:build unix

package mcptools

import (
	"os/exec"
	"syscall"
)

// ownGroup starts a server in a process group of its own: the Ctrl-C that
// stops a run does not reach it (its end would read as a dead server);
// the run stops it when it ends. Where the system can (deathSignal), it
// is also killed when kitaru dies without stopping it (kill -9, the OOM
// killer), as a server that never reads its closed stdin would live on.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	deathSignal(cmd.SysProcAttr)
}

// killGroup kills what a stopped server left running in its group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
