//go:build windows

package engine

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// Windows has no process groups to kill whole: a stop or a timeout kills
// the command's sh (exec.Cmd's default Cancel), and what sh started may
// outlive it; exec.Cmd.WaitDelay then stops waiting for its output. Nor is
// anything recorded to stop after a crash.
func ownGroup(cmd *exec.Cmd) {}

// statusControlCExit is the exit status of a program that a Ctrl-C ended
// (STATUS_CONTROL_C_EXIT). The console sends Ctrl-C to every program
// attached to it, the command as well as kitaru, as a terminal's ^C
// reaches its foreground process group on Unix.
const statusControlCExit = 0xC000013A

// deathSignal is the signal a command died of, if it did: on Windows only
// a Ctrl-C is told apart, as SIGINT.
func deathSignal(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) && uint32(ee.ExitCode()) == statusControlCExit {
		return syscall.SIGINT, true
	}
	return 0, false
}

// runGroup is cmd.Run: without process groups there is no group to record
// or to stop after a crash.
func (u *unit) runGroup(ctx context.Context, cmd *exec.Cmd) error { return cmd.Run() }

// stopLeftovers does nothing: no group was recorded.
func (e *Engine) stopLeftovers(ctx context.Context, meta *RunMeta) {}
