package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/kitaruhq/kitaru/engine"
)

// stdinTerminal says whether the command reads from a person at a
// terminal, who can be asked.
func stdinTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errNoAnswer is a person leaving the questions unanswered (an empty line,
// end of input): the run keeps waiting.
var errNoAnswer = errors.New("no answer given; the run is still waiting")

// askAnswers asks a person each question the run waits on (only step's
// when one is named), in step order, and records each answer; an answer
// the schema refuses is shown why and asked again. It returns the run as
// the last answer left it.
func askAnswers(ctx context.Context, r engine.Runner, ref, step string, in *bufio.Reader, out io.Writer) (*engine.Run, error) {
	run, err := r.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if s := nextQuestion(run, step); s == nil {
		if step != "" {
			return nil, &engine.UsageError{Err: fmt.Errorf("step %q of run %s is not waiting for an answer (the run is %s)", step, run.ID, run.Status)}
		}
		return nil, &engine.UsageError{Err: fmt.Errorf("run %s is not waiting for an answer (it is %s)", run.ID, run.Status)}
	}
	var last *engine.Run
	// Each answer is read back before the next question: an llm step
	// whose model asked several puts them one at a time.
	for s := nextQuestion(run, step); s != nil; s = nextQuestion(run, step) {
		fmt.Fprintf(out, "%s asks: %s\n", s.ID, s.Wait.Question)
		if s.Wait.Schema != nil {
			schema, _ := json.Marshal(s.Wait.Schema)
			fmt.Fprintf(out, "  the answer must match %s\n", schema)
		}
		fmt.Fprintln(out, "  type JSON, or text for a string; an empty line leaves the run waiting")
		for {
			fmt.Fprint(out, "> ")
			line, err := whileWaiting(ctx, func() (string, error) { return in.ReadString('\n') })
			if ctx.Err() != nil {
				fmt.Fprintln(out)
				return last, ctx.Err()
			}
			line = strings.TrimSpace(line)
			if line == "" {
				if err != nil && !errors.Is(err, io.EOF) {
					return last, fmt.Errorf("cannot read the answer: %w", err)
				}
				fmt.Fprintln(out)
				return last, errNoAnswer
			}
			raw, _ := json.Marshal(parseValue(line))
			answered, err := r.Answer(ctx, run.ID, s.ID, raw)
			var ue *engine.UsageError
			if errors.As(err, &ue) {
				fmt.Fprintf(out, "  not taken: %v\n", err)
				continue
			}
			if err != nil {
				return last, err
			}
			last, run = answered, answered
			break
		}
	}
	return last, nil
}

// nextQuestion is the first step of run (only step, when named) that
// waits for an answer it has not been given.
func nextQuestion(run *engine.Run, step string) *engine.StepResult {
	for i := range run.Steps {
		s := &run.Steps[i]
		if s.Status == engine.StepWaiting && s.Wait != nil && !s.Wait.Answered && (step == "" || s.ID == step) {
			return s
		}
	}
	return nil
}

// whileWaiting runs read (from a terminal, a FIFO: what a signal does not
// interrupt) until it returns or ctx ends, giving ctx's error then: Ctrl-C,
// which kitaru catches to stop cleanly, would otherwise wait for the read
// (a second Ctrl-C then killed kitaru with the terminal still not
// echoing). The read left behind ends with the process.
func whileWaiting[T any](ctx context.Context, read func() (T, error)) (T, error) {
	type got struct {
		v   T
		err error
	}
	done := make(chan got, 1)
	go func() {
		v, err := read()
		done <- got{v, err}
	}()
	select {
	case g := <-done:
		return g.v, g.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
