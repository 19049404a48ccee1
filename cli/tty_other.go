//go:build !linux

package cli

// On other systems kitaru draws plain progress lines: a live view needs a
// terminal check written for that system first.
func isTerminal(fd uintptr) bool { return false }

func terminalSize(fd uintptr) (cols, rows int) { return 0, 0 }
