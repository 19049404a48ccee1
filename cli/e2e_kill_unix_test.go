//go:build unix

package cli

import "syscall"

// killGroup kills what is left of a step's process group.
// killGroup kills process group pgid, never 0 or 1 (kill(-0) would be the
// caller's own group, go test's).
func killGroup(pgid int) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
