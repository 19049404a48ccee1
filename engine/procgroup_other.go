//go:build !unix

package engine

import (
	"context"
	"os/exec"
)

// runGroup is cmd.Run: without process groups there is no group to record
// or to stop after a crash.
func (u *unit) runGroup(ctx context.Context, cmd *exec.Cmd) error { return cmd.Run() }

// stopLeftovers does nothing: no group was recorded.
func (e *Engine) stopLeftovers(ctx context.Context, meta *RunMeta) {}
