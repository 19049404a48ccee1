//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

// echoOff does nothing here: term.ReadPassword turns echo off itself.
func echoOff(int) (restore func(), err error) { return func() {}, nil }
