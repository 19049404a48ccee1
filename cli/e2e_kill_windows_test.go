//go:build windows

package cli

// killGroup does nothing: on Windows kitaru starts no process groups.
func killGroup(int) {}
