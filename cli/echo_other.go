//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import "golang.org/x/term"

// echoOff does nothing here: term.ReadPassword turns echo off itself.
func echoOff(int) (restore func(), err error) { return func() {}, nil }

// readHidden reads one line typed at fd without showing it.
func readHidden(fd int) ([]byte, error) { return term.ReadPassword(fd) }
