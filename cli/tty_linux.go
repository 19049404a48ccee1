//go:build linux

package cli

import (
	"syscall"
	"unsafe"
)

// isTerminal asks the kernel for the descriptor's terminal attributes: only
// a terminal has them. syscall is enough; no dependency needed.
func isTerminal(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// terminalSize is the terminal's width and height, 0 when unknown.
func terminalSize(fd uintptr) (cols, rows int) {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0, 0
	}
	return int(ws.Col), int(ws.Row)
}
