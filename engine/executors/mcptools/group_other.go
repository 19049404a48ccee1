//go:build !unix

package mcptools

import "os/exec"

// ownGroup leaves a server as it is here (no process groups).
func ownGroup(cmd *exec.Cmd) {}

// killGroup: there is no group; the server itself is stopped by Close.
func killGroup(cmd *exec.Cmd) {}
