package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/kitaruhq/kitaru/engine"
)

// Owned by the terminal-view work: this plain printer is a placeholder the
// live TTY view replaces; its constructor's shape is the contract.

// progressOptions say how progress is drawn.
type progressOptions struct {
	TTY   bool // draw a live view that updates in place
	Color bool // false when NO_COLOR is set or not a TTY
	Quiet bool // print nothing
}

// progress draws a run's events. Close finishes the drawing (the live view
// leaves its final frame on screen).
type progress interface {
	engine.Observer
	Close()
}

func newProgress(w io.Writer, opts progressOptions) progress {
	return &plainProgress{w: w, quiet: opts.Quiet}
}

type plainProgress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
}

func (p *plainProgress) Event(e engine.Event) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case engine.EventStepFinished:
		if e.Result != nil {
			fmt.Fprintf(p.w, "%s %s\n", e.Step, e.Result.Status)
		}
	case engine.EventRunFinished:
		if e.Run != nil {
			fmt.Fprintf(p.w, "run %s %s\n", e.RunID, e.Run.Status)
		}
	}
}

func (p *plainProgress) Close() {}
