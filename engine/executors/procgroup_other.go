//go:build !unix

package executors

import (
	"context"
	"os/exec"
	"syscall"

	"github.com/kitaruhq/kitaru/engine/work"
)

// runGroup is cmd.Run: without process groups there is no group to note
// or to stop after a crash.
func runGroup(ctx context.Context, cmd *exec.Cmd, u *work.Unit, sink work.Sink) error {
	return cmd.Run()
}

// StopLeftovers finds nothing: no group was noted.
func StopLeftovers(ctx context.Context, dirs map[string]string) []Leftover { return nil }

// LeftoversNoted: none is.
func LeftoversNoted(dirs map[string]string) bool { return false }

// ownGroup leaves cmd as it is: a stop kills the command itself (what it
// started may outlive it).
func ownGroup(cmd *exec.Cmd) {}

// deathSignal: a command here does not die of a unix signal.
func deathSignal(err error) (syscall.Signal, bool) { return 0, false }

// MCPRecord is where an MCP server would note its group: nowhere is read.
func MCPRecord(dir, server string) string { return "" }

// NoteGroup notes nothing: there are no groups.
func NoteGroup(p string, pid int) {}

// StopMCPLeftovers finds nothing: no group was noted.
func StopMCPLeftovers(ctx context.Context, dir string) []Leftover { return nil }
