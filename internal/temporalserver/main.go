// Command temporalserver runs a Temporal server in process, in memory
// (go.temporal.io/server/temporaltest), for kitaru's end-to-end tests: it
// prints "host:port namespace" on a line of stdout once the server
// answers, and stops when stdin closes (its parent test ended) or on
// SIGINT/SIGTERM.
//
// It is a module of its own so that the server's many dependencies stay
// out of kitaru's go.mod: tests build it with `go build` in this
// directory (see internal/temporaltest).
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/server/temporaltest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "temporalserver:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	defer func() {
		// temporaltest panics when no test is given to fail.
		if p := recover(); p != nil {
			err = fmt.Errorf("the server did not start: %v", p)
		}
	}()
	ts := temporaltest.NewServer()
	defer ts.Stop()
	if _, err := fmt.Printf("%s %s\n", ts.GetFrontendHostPort(), ts.GetDefaultNamespace()); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(closed)
	}()
	select {
	case <-stop:
	case <-closed:
	}
	return nil
}
