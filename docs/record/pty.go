//go:build ignore

// pty runs a command on a pseudo-terminal of a fixed size and prints what a
// person would see on that terminal once it ends: the escape sequences the
// live view draws with are applied, not copied. It exits with the command's
// exit code, or 125 when it cannot record (so fill.sh can tell the two
// apart). offline.sh uses it for the walkthrough's live-view screen.
//
// Usage: go run docs/record/pty.go [-cols N] [-rows N] -- command args...
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/kitaruhq/kitaru/internal/termscreen"
)

func main() {
	cols := flag.Int("cols", 80, "terminal width")
	rows := flag.Int("rows", 24, "terminal height")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pty [-cols N] [-rows N] -- command args...")
		os.Exit(125)
	}
	drawn, code, err := run(flag.Args(), uint16(*cols), uint16(*rows))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pty:", err)
		os.Exit(125)
	}
	scr := termscreen.New(*cols)
	scr.Feed(string(drawn))
	if len(scr.Unknown()) > 0 {
		fmt.Fprintf(os.Stderr, "pty: the command drew escape sequences this screen model does not apply: %q\n", scr.Unknown())
		os.Exit(125)
	}
	fmt.Print(scr.String())
	os.Exit(code)
}

// run starts args with a new terminal of cols×rows as its stdin, stdout and
// stderr and returns every byte it drew.
func run(args []string, cols, rows uint16) ([]byte, int, error) {
	master, slave, err := termscreen.OpenPTY(cols, rows)
	if err != nil {
		return nil, 0, err
	}
	defer master.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return nil, 0, err
	}
	// Only the child holds the slave now, so reading ends (EIO) when it exits.
	slave.Close()
	var out bytes.Buffer
	_, rerr := io.Copy(&out, master)
	werr := cmd.Wait()
	var pe *os.PathError
	if rerr != nil && !(errors.As(rerr, &pe) && errors.Is(pe.Err, syscall.EIO)) {
		return nil, 0, rerr
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return out.Bytes(), ee.ExitCode(), nil
	}
	return out.Bytes(), 0, werr
}
