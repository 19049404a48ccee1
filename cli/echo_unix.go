//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// echoOff stops the terminal showing what is typed until restore: done
// before a prompt is printed, so keys typed as soon as it shows are not
// echoed either. readHidden then reads without touching the terminal's
// modes: term.ReadPassword saves and restores them itself, and a Ctrl-C
// that came before it saved them would leave its goroutine turning echo
// off again after restore had turned it back on.
func echoOff(fd int) (restore func(), err error) {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	old := *t
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, &old) }, nil
}

// readHidden reads one line typed at fd while echo is off, without the
// line's end.
func readHidden(fd int) ([]byte, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, nil
		}
		switch b[0] {
		case '\n':
			return line, nil
		case '\r':
		default:
			line = append(line, b[0])
		}
	}
}
