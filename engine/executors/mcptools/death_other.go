//go:build unix && !linux

package mcptools

import "syscall"

// deathSignal: no parent-death signal here; a server learns of kitaru's
// end by its stdin closing.
func deathSignal(*syscall.SysProcAttr) {}
