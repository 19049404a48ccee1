package mcptools

import "syscall"

// deathSignal has Linux kill the server when the thread that started it
// ends, which (no goroutine of kitaru's keeps a thread locked) is when
// kitaru does.
func deathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
