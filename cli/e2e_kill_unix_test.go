//go:build unix

package cli

import "syscall"

// killGroup kills what is left of a step's process group.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }
