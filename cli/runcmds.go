package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// The run commands: run, replay, resume, retry, input and executions. They
// turn flags into engine calls and the returned run record into output and
// an exit code; everything durable happens in the engine.

// runOutput are the flags shared by the commands that drive a run.
type runOutput struct {
	Parallel int  `help:"Run at most N units of work at once across the run: a step, or one item of a foreach (default 8)." placeholder:"N"`
	Quiet    bool `short:"q" help:"Print no progress, only the run id and the result."`

	abort bool // the command ends the run cancelled on purpose
}

type runCmd struct {
	Flow   string   `arg:"" help:"The flow file, or - to read it from stdin (its steps then run in the current directory)." type:"path"`
	Input  []string `short:"i" sep:"none" help:"An input as NAME=VALUE; repeat for several. VALUE is converted to the input's declared type." placeholder:"NAME=VALUE"`
	Args   string   `help:"Inputs as one JSON object, e.g. '{\"topic\": \"agents\"}'." placeholder:"JSON"`
	Inputs string   `help:"Read inputs from a JSON or YAML file holding a map." type:"path" placeholder:"FILE"`
	Detach bool     `help:"On Temporal (KITARU_TEMPORAL_ADDRESS): return once the run is started, with its id."`
	runOutput
	budgetFlags
	cacheFlags
}

func (c *runCmd) Help() string {
	return `Validates the flow and its inputs, then runs it. The run id is printed
first, progress goes to stderr, and the flow's output to stdout (with --json,
stdout holds exactly the run record). What the flow names that this machine
lacks (a model alias, a secret) is warned about on stderr before it starts,
as kitaru validate does.

Exit codes: 0 completed, 1 failed, 2 invalid flow or inputs, 3 waiting for
input, 130 interrupted.

Examples:

    kitaru run examples/llm_writer.yaml --input topic="durable agents"
    kitaru run flow.yaml --args '{"topic": "agents", "words": 80}' --json
    KITARU_LLM_MOCK_RESPONSE=hi kitaru run flow.yaml   # offline try-out`
}

func (c *runCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	flow, err := loadFlow(ctx, c.Flow, stdio.Stdin)
	if err != nil {
		return cmdErr(err)
	}
	given, err := gatherInputs(ctx, c.Input, c.Args, c.Inputs)
	if err != nil {
		return cmdErr(err)
	}
	// Bind before anything runs so a wrong input costs nothing.
	inputs, err := bindInputs(flow, given)
	if err != nil {
		return cmdErr(err)
	}
	limit, err := c.budget()
	if err != nil {
		return err
	}
	// Said once, before the run starts: the step that needs what is
	// missing may be far down the flow.
	printWarnings(stdio.Stderr, flow.File, flowWarnings(flow, thisMachine))
	return drive(ctx, g, stdio, c.runOutput, "", func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		return r.Start(ctx, engine.StartOptions{Flow: flow, Inputs: inputs, Parallel: c.Parallel, Budget: limit, NoCache: c.NoCache, Detach: c.Detach})
	})
}

type replayCmd struct {
	RunRef   string   `arg:"" name:"run" help:"The run to replay: an id, a prefix, or 'last'."`
	From     string   `help:"Re-execute this step and everything downstream of it; reuse the rest. STEP[N] re-executes only item N of a foreach step." placeholder:"STEP"`
	Input    []string `short:"i" sep:"none" help:"Change an input as NAME=VALUE; repeat for several." placeholder:"NAME=VALUE"`
	Override []string `sep:"none" help:"Set a step's output as STEP=VALUE (VALUE is JSON when it parses as JSON, else text); its consumers re-execute." placeholder:"STEP=VALUE"`
	FlowFile string   `name:"flow" help:"Replay against this (edited) flow file instead of the run's snapshot." type:"path" placeholder:"FILE"`
	runOutput
	budgetFlags
	cacheFlags
}

func (c *replayCmd) Help() string {
	return `Makes a NEW run linked to RUN. With --from, STEP and its descendants
re-execute (and the consumers of overridden steps); every other step reuses
its recorded output. Without --from, exactly the steps whose definition or
inputs changed (through --flow or --input) re-execute, with their descendants.
A foreach step that re-executes reuses each finished item whose value and
inputs are unchanged; --from 'STEP[N]' re-executes item N alone.

Examples:

    kitaru replay last --from write_draft
    kitaru replay last --from 'research[2]'
    kitaru replay kr-3f9a --from write_draft --override research="Edited notes"
    kitaru replay last --flow flow.yaml --input topic="durable agents"`
}

func (c *replayCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	return c.replay(ctx, g, stdio, "", "")
}

// replay runs the replay with the Python Kitaru spellings (JSON objects of
// inputs and overrides) merged under the flags.
func (c *replayCmd) replay(ctx context.Context, g *Globals, stdio *IO, argsJSON, overridesJSON string) error {
	opts := engine.ReplayOptions{Source: c.RunRef, From: c.From, Parallel: c.Parallel, NoCache: c.NoCache}
	var err error
	if opts.Budget, err = c.budget(); err != nil {
		return err
	}
	if opts.Inputs, err = gatherInputs(ctx, c.Input, argsJSON, ""); err != nil {
		return cmdErr(err)
	}
	if opts.Overrides, err = parseOverrides(c.Override, overridesJSON); err != nil {
		return cmdErr(err)
	}
	if c.FlowFile != "" {
		if opts.Flow, err = loadFlow(ctx, c.FlowFile, stdio.Stdin); err != nil {
			return cmdErr(err)
		}
	}
	return drive(ctx, g, stdio, c.runOutput, "", func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		return r.Replay(ctx, opts)
	})
}

type resumeCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
	runOutput
	budgetFlags
	cacheFlags
}

func (c *resumeCmd) Help() string {
	return `Continues, in place, a run that was interrupted (Ctrl-C, a crash, kill -9)
or that was waiting and has its answer, or that its budget stopped (give it
a larger one with --max-cost or --max-tokens). Finished steps are never
redone; steps that were running when the process died run again
(at-least-once). The run keeps the model registry it started with.

Examples:

    kitaru resume last
    kitaru resume kr-3f9a --json`
}

func (c *resumeCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	opts, err := c.budgetFlags.continueOptions()
	if err != nil {
		return err
	}
	opts = append(opts, c.cacheFlags.continueOptions()...)
	return drive(ctx, g, stdio, c.runOutput, c.RunRef, func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		return r.Resume(ctx, c.RunRef, c.Parallel, opts...)
	})
}

type retryCmd struct {
	RunRef   string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
	FlowFile string `name:"flow" help:"Continue against this edited flow file (the run's own flow, changed): it becomes the run's flow; steps it changed or added run, with their descendants." type:"path" placeholder:"FILE"`
	runOutput
	budgetFlags
	cacheFlags
}

func (c *retryCmd) Help() string {
	return `Continues, in place, a failed run: failed and never-run steps run again,
completed steps are not redone. The run keeps the model registry it started
with.

With --flow, the run continues against the edited flow file, which becomes
its flow (the journal records the change): failed and never-run steps run,
and so do completed steps whose fingerprint the edit changed, with their
descendants, and steps it added; the other completed steps are kept, and
steps it removed leave the run. The run keeps its inputs (a new input needs
a default). An interrupted or waiting run may be retried with --flow too.

Examples:

    kitaru retry last
    kitaru retry kr-3f9a --parallel 2
    kitaru retry last --flow flow.yaml   # after raising a timeout in flow.yaml`
}

func (c *retryCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	opts, err := c.budgetFlags.continueOptions()
	if err != nil {
		return err
	}
	opts = append(opts, c.cacheFlags.continueOptions()...)
	if c.FlowFile != "" {
		f, err := loadFlow(ctx, c.FlowFile, stdio.Stdin)
		if err != nil {
			return cmdErr(err)
		}
		opts = append(opts, engine.WithFlow(f))
	}
	return drive(ctx, g, stdio, c.runOutput, c.RunRef, func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		return r.Retry(ctx, c.RunRef, c.Parallel, opts...)
	})
}

type inputCmd struct {
	RunRef   string  `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
	Step     string  `arg:"" optional:"" help:"The waiting step to answer (a wait step, or an llm step whose model called a kind: wait tool); may be left out when only one is waiting."`
	Value    *string `help:"The answer, as JSON (text that is not JSON is taken as a string). It must match the step's schema. Left out on a terminal, the question is asked." placeholder:"JSON" xor:"answer"`
	Abort    bool    `help:"Do not answer: end the run cancelled." xor:"answer"`
	NoResume bool    `help:"Record the answer but do not resume the run."`
	runOutput
}

func (c *inputCmd) Help() string {
	return `Answers a wait step, or the question a kind: wait tool put inside an
llm step's tool loop (the answer is that call's result, sent to the model;
questions the model put at once, or the items of a foreach step, are
answered in the order they were asked, one per input; a question of a
flow: tool's child run is answered through its parent), with --value; or
ends the run with --abort. The answer is
checked against the JSON Schema: a wrong one is refused (exit 2) and the
run keeps waiting. A good one is recorded and the run resumes, unless
--no-resume. With neither flag, on a terminal, each question the run waits
on is asked and the answers are read there.

Examples:

    kitaru input last
    kitaru input last approval --value true
    kitaru input kr-3f9a details --value '{"channel": "blog"}'
    kitaru input last --abort`
}

func (c *inputCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	if c.Abort {
		if c.NoResume {
			return usageErr(errors.New("--no-resume goes with --value, not with --abort"))
		}
		return drive(ctx, g, stdio, runOutput{Quiet: true, abort: true}, c.RunRef, func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
			return r.Abort(ctx, c.RunRef, c.Step)
		})
	}
	out := c.runOutput
	if c.NoResume {
		out.Quiet = true
	}
	if c.Value == nil {
		return c.ask(ctx, g, stdio, out)
	}
	if strings.TrimSpace(*c.Value) == "" {
		// An unset "$VAR" must not answer (approve) a wait unseen.
		return usageErr(errors.New(`--value is empty; give the answer as JSON (an empty string is --value '""')`))
	}
	value := parseValue(*c.Value)
	raw, err := json.Marshal(value)
	if err != nil {
		return usageErr(fmt.Errorf("cannot use --value %q: %w", *c.Value, err))
	}
	return drive(ctx, g, stdio, out, c.RunRef, func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		run, err := r.Answer(ctx, c.RunRef, c.Step, raw)
		var ue *engine.UsageError
		if errors.As(err, &ue) {
			return nil, &engine.UsageError{Err: fmt.Errorf("%w\n%s", err, stillWaiting(ctx, r, c.RunRef))}
		}
		if err != nil || c.NoResume || finished(run.Status) {
			return run, err
		}
		// Another wait may still be pending; the resumed run then ends
		// waiting again, which is what the user should see.
		return r.Resume(ctx, run.ID, c.Parallel)
	})
}

// ask answers on the terminal: the questions are asked before the run's
// progress is drawn, then the run resumes as with --value.
func (c *inputCmd) ask(ctx context.Context, g *Globals, stdio *IO, out runOutput) error {
	if !stdinTerminal(stdio.Stdin) {
		return usageErr(errors.New("give the answer with --value JSON, or end the run with --abort (without either, kitaru asks on a terminal, and stdin is not one)"))
	}
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	run, err := askAnswers(ctx, r, c.RunRef, c.Step, bufio.NewReader(stdio.Stdin), stdio.Stderr)
	if errors.Is(err, errNoAnswer) && run == nil {
		return &ExitError{Code: ExitWaiting, Err: err}
	}
	if ctx.Err() != nil {
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted; the answers given before are recorded, and the run still waits for the rest")}
	}
	if err != nil && !errors.Is(err, errNoAnswer) {
		return cmdErr(err)
	}
	return drive(ctx, g, stdio, out, run.ID, func(ctx context.Context, r engine.Runner) (*engine.Run, error) {
		if c.NoResume || finished(run.Status) {
			return r.Get(ctx, run.ID)
		}
		return r.Resume(ctx, run.ID, c.Parallel)
	})
}

type executionsCmd struct {
	List   listCmd       `cmd:"" help:"List runs, newest first."`
	Get    getCmd        `cmd:"" help:"Show a run: status, inputs and every step."`
	Logs   logsCmd       `cmd:"" help:"Print the recorded log lines of a run or one step."`
	Cancel cancelCmd     `cmd:"" help:"Stop a running run at its next safe point; it ends cancelled."`
	Replay execReplayCmd `cmd:"" help:"Same as 'kitaru replay'; also takes --args and --overrides as JSON."`
	Resume resumeCmd     `cmd:"" help:"Same as 'kitaru resume'."`
	Retry  retryCmd      `cmd:"" help:"Same as 'kitaru retry'."`
	Input  inputCmd      `cmd:"" help:"Same as 'kitaru input'."`
	Delete deleteCmd     `cmd:"" help:"Remove runs and their records (not one a kept replay reuses)."`
	Prune  pruneCmd      `cmd:"" help:"Remove old runs (--older-than 30d), never a running one."`
	Diff   diffCmd       `cmd:"" help:"Compare two runs step by step."`
}

// execReplayCmd is replay with the Python Kitaru spellings.
type execReplayCmd struct {
	replayCmd `embed:""`
	Args      string `help:"Changed inputs as a JSON object, e.g. '{\"topic\": \"agents\"}'." placeholder:"JSON"`
	Overrides string `help:"Step outputs as a JSON object; keys are STEP or KIND.STEP, e.g. '{\"checkpoint.research\": \"notes\"}'." placeholder:"JSON"`
}

func (c *execReplayCmd) Help() string {
	return c.replayCmd.Help() + `
    kitaru executions replay last --from write_draft --overrides '{"checkpoint.research": "Edited notes"}'
    kitaru executions replay last --args '{"topic": "agents"}'`
}

func (c *execReplayCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	return c.replay(ctx, g, stdio, c.Args, c.Overrides)
}

type listCmd struct {
	Flow   string `help:"Only runs of this flow." placeholder:"NAME"`
	Status string `help:"Only runs with this status." enum:",running,waiting,completed,failed,cancelled,interrupted" default:""`
	Limit  int    `help:"Show at most N runs (0: all)." default:"20" placeholder:"N"`
}

func (c *listCmd) Help() string {
	return `Examples:

    kitaru executions list
    kitaru executions list --flow research_agent --status failed --json`
}

func (c *listCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	filter := engine.ListFilter{Flow: c.Flow, Status: engine.RunStatus(c.Status), Limit: c.Limit}
	if c.Limit > 0 {
		filter.Limit++ // one more than shown tells whether there are more
	}
	runs, err := r.List(ctx, filter)
	var damaged engine.DamagedRuns
	if err != nil && !errors.As(err, &damaged) {
		return cmdErr(err)
	}
	more := listMore{Flow: c.Flow, Status: c.Status}
	if c.Limit > 0 && len(runs) > c.Limit {
		runs = runs[:c.Limit]
		filter.Limit = 0
		if all, err := r.List(ctx, filter); err == nil || errors.As(err, new(engine.DamagedRuns)) {
			more.Total = len(all)
		}
	}
	if len(runs) == 0 && (c.Flow != "" || c.Status != "") {
		all, err := r.List(ctx, engine.ListFilter{})
		if err == nil || errors.As(err, new(engine.DamagedRuns)) {
			more.AllRuns = len(all)
			more.AllFlows = flowsOf(all)
		}
	}
	if g.wantJSON() {
		if runs == nil {
			runs = []*engine.Run{}
		}
		// The records keep the contract's shape; the runs that have none
		// are named where a person looks.
		for _, d := range damaged {
			fmt.Fprintf(stdio.Stderr, "kitaru: run %s is damaged and not listed: %v\n", d.RunID, d)
		}
		out := make([]*engine.Run, len(runs))
		for i, run := range runs {
			out[i] = recordForJSON(run)
		}
		return writeJSON(stdio.Stdout, out)
	}
	return writeRunList(stdio.Stdout, runs, damaged, more)
}

// flowsOf is the names of the flows these runs are of, sorted, once each.
func flowsOf(runs []*engine.Run) []string {
	var names []string
	for _, r := range runs {
		names = append(names, r.Flow)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

type getCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
	Step   string `help:"Show this step whole: what it asked, each turn and tool call, its answer and attempts." placeholder:"STEP"`
	Item   *int   `help:"With --step: this item of a foreach step." placeholder:"N"`
}

func (c *getCmd) Help() string {
	return `For a replay it also says which steps were reused and why the others ran.

Examples:

    kitaru executions get last
    kitaru executions get kr-3f9a --json
    kitaru executions get last --step research`
}

func (c *getCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	run, err := r.Get(ctx, c.RunRef)
	if err != nil {
		return cmdErr(err)
	}
	if c.Item != nil && c.Step == "" {
		return usageErr(fmt.Errorf("--item goes with --step: kitaru executions get %s --step STEP --item %d", c.RunRef, *c.Item))
	}
	if c.Step != "" {
		v, err := viewStep(run, c.Step, c.Item)
		if err != nil {
			return err
		}
		if g.wantJSON() {
			return writeJSON(stdio.Stdout, v)
		}
		writeStepDetail(forPeople(stdio.Stdout), v)
		return nil
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, recordForJSON(run))
	}
	return writeRunDetail(forPeople(stdio.Stdout), run)
}

type logsCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
	Step   string `help:"Only this step's lines." placeholder:"STEP"`
	Follow bool   `short:"f" help:"Keep printing new lines until the run stops running."`
}

func (c *logsCmd) Help() string {
	return `With --json each line is one JSON object (JSON Lines). On a terminal,
control characters and escape sequences a command printed are shown as
escapes (ESC as \x1b); piped, lines are printed as recorded. A command's
lines are logged up to its max_output per stream and attempt, each cut at
64KiB; a closing line counts what was not logged.

Examples:

    kitaru executions logs last
    kitaru executions logs kr-3f9a --step fetch --follow`
}

func (c *logsCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	enc := json.NewEncoder(stdio.Stdout)
	out := forPeople(stdio.Stdout)
	err = r.Logs(ctx, c.RunRef, c.Step, c.Follow, func(l engine.LogLine) error {
		if g.wantJSON() {
			return enc.Encode(l)
		}
		return writeLogLine(out, l, c.Step == "")
	})
	if err != nil && !(c.Follow && errors.Is(err, context.Canceled)) {
		return cmdErr(err)
	}
	return nil
}

type cancelCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
}

func (c *cancelCmd) Help() string {
	return `A run being run by another process stops at its next safe point; a run
that is not running (waiting, interrupted, failed) is marked cancelled at once.

Example:

    kitaru executions cancel last`
}

func (c *cancelCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	run, err := r.Cancel(ctx, c.RunRef)
	if err != nil {
		return cmdErr(err)
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, recordForJSON(run))
	}
	if run.Status == engine.RunCancelled {
		fmt.Fprintf(stdio.Stdout, "run %s cancelled\n", run.ID)
	} else {
		fmt.Fprintf(stdio.Stdout, "run %s: cancel requested; it stops at its next safe point\n", run.ID)
	}
	return nil
}

// drive builds a runner whose progress goes to stderr, calls do, and turns
// the run it returns into output and an exit code. The run's id is
// announced when the engine first reports on it, or at the end when it
// reported nothing. ref is the run the command continues ("" for a new
// run).
func drive(ctx context.Context, g *Globals, stdio *IO, out runOutput, ref string,
	do func(context.Context, engine.Runner) (*engine.Run, error)) error {
	prog := newProgress(stdio.Stderr, progressFor(stdio.Stderr, out.Quiet, nil))
	ann := &announcer{next: prog, stdio: stdio, json: g.wantJSON()}
	r, err := newRunner(ann, progressWriter(prog, stdio.Stderr))
	if err != nil {
		prog.Close()
		return cmdErr(err)
	}
	run, err := do(ctx, r)
	prog.Close()
	if err != nil {
		if run == nil && errors.Is(err, context.Canceled) {
			return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted before the run started; nothing was recorded")}
		}
		if run == nil {
			return cmdErr(err)
		}
		// The engine returned the run together with an error: report the
		// run (its status decides the exit code) and the error as a note.
		fmt.Fprintf(stdio.Stderr, "kitaru: %v\n", err)
	}
	if run == nil {
		return errors.New("the engine returned no run record and no error; please report this")
	}
	if !ann.done {
		ann.say(run.ID, run.ReplayOf)
		if ref != "" && finished(run.Status) && !out.abort {
			// Continuing a run that had ended does nothing: say so, or
			// an exit 0 with no progress reads as a silent failure.
			fmt.Fprintf(forPeople(stdio.Stderr), "run %s had already %s; nothing was run\n", run.ID, run.Status)
		}
	}
	return reportRun(stdio, g.wantJSON(), out.abort, run)
}

// stillWaiting tells, after a refused answer, that the run still waits and
// how to answer it.
func stillWaiting(ctx context.Context, r engine.Runner, ref string) string {
	run, err := r.Get(ctx, ref)
	if err != nil || run.Status != engine.RunWaiting {
		return "the run is unchanged"
	}
	var hints []string
	for _, s := range run.Steps {
		if s.Status == engine.StepWaiting && s.Wait != nil {
			hints = append(hints, fmt.Sprintf("`kitaru input %s %s --value %s`", run.ID, s.ID, shellQuote(exampleJSON(s.Wait.Schema))))
		}
	}
	if len(hints) == 0 {
		return "the run is still waiting"
	}
	return "the run is still waiting; answer for example with " + strings.Join(hints, " or ")
}

// finished says whether a run has ended for good (nothing to resume).
func finished(s engine.RunStatus) bool {
	return s == engine.RunCompleted || s == engine.RunFailed || s == engine.RunCancelled
}

// announcer prints the run id as soon as the engine reports it, before any
// step output, then passes every event on to the progress view.
type announcer struct {
	next  engine.Observer
	stdio *IO
	json  bool
	done  bool
}

func (a *announcer) Event(e engine.Event) {
	if !a.done && e.RunID != "" {
		var replayOf *string
		if e.Run != nil {
			replayOf = e.Run.ReplayOf
		}
		a.say(e.RunID, replayOf)
	}
	a.next.Event(e)
}

func (a *announcer) say(id string, replayOf *string) {
	a.done = true
	// With --json stdout is reserved for the record.
	w := a.stdio.Stdout
	if a.json {
		w = a.stdio.Stderr
	}
	if replayOf != nil {
		fmt.Fprintf(w, "run %s (replay of %s)\n", id, *replayOf)
	} else {
		fmt.Fprintf(w, "run %s\n", id)
	}
}

// reportRun prints a finished (or stopped) run and returns the error that
// carries its exit code. wantCancel says the command asked for the cancellation (input --abort),
// so a cancelled run is success.
func reportRun(stdio *IO, asJSON, wantCancel bool, run *engine.Run) error {
	if asJSON {
		if err := writeJSON(stdio.Stdout, recordForJSON(run)); err != nil {
			return err
		}
	} else if run.Status == engine.RunCompleted && run.Output != nil {
		writeOutput(forPeople(stdio.Stdout), run.Output)
	}
	w := forPeople(stdio.Stderr)
	switch run.Status {
	case engine.RunCompleted:
		if c := continuedText(run.Ending); c != "" {
			fmt.Fprintf(w, "run %s completed, %s", run.ID, c)
			writeStepErrors(w, run, "")
			fmt.Fprintln(w)
		}
		return nil
	case engine.RunFailed:
		fmt.Fprintf(w, "run %s failed", run.ID)
		msg := runError(run)
		if msg != "" {
			fmt.Fprintf(w, ": %s", msg)
		}
		writeStepErrors(w, run, msg)
		for _, s := range run.Steps {
			if s.Status == engine.StepFailed && s.Remedy != nil {
				if t := remedyText(*s.Remedy); t != "" {
					fmt.Fprintf(w, "\n  to fix step %s: %s", s.ID, t)
				}
			}
		}
		if run.Ending != nil && run.Ending.Code == runstore.EndBudgetExceeded {
			fmt.Fprintln(w) // its own way out was said
		} else {
			fmt.Fprintf(w, "\n%s\n", retryHint(run))
		}
		return &ExitError{Code: ExitRunFailed}
	case engine.RunWaiting:
		for _, s := range run.Steps {
			if s.Status != engine.StepWaiting {
				continue
			}
			fmt.Fprintf(w, "run %s is waiting for input at step %s", run.ID, s.ID)
			var schema map[string]any
			if s.Wait != nil {
				schema = s.Wait.Schema
				if q := questionsText(s.Wait); q != "" {
					fmt.Fprintf(w, "%s:\n  %s", questionsNote(s.Wait), indentRest(q, "  "))
				}
			}
			fmt.Fprintf(w, "\nanswer with `kitaru input %s %s --value %s`\n", run.ID, s.ID, shellQuote(exampleJSON(schema)))
		}
		return &ExitError{Code: ExitWaiting}
	case engine.RunInterrupted:
		fmt.Fprintf(w, "run %s interrupted; resume with `kitaru resume %s`\n", run.ID, run.ID)
		return &ExitError{Code: ExitInterrupted}
	case engine.RunCancelled:
		fmt.Fprintf(w, "run %s cancelled\n", run.ID)
		if wantCancel {
			return nil
		}
		// Someone else cancelled the run this command was driving.
		return &ExitError{Code: ExitRunFailed}
	default:
		fmt.Fprintf(w, "run %s is %s\n", run.ID, run.Status)
		return nil
	}
}

// writeStepErrors lists the errors of a run's failed steps that msg does
// not already hold, a continued failure marked as one.
func writeStepErrors(w io.Writer, run *engine.Run, msg string) {
	for _, s := range run.Steps {
		if s.Status != engine.StepFailed || s.Error == nil || msg != "" && strings.Contains(msg, *s.Error) {
			continue
		}
		how := ""
		if s.Continued {
			how = " (continued)"
		}
		fmt.Fprintf(w, "\n  step %s%s: %s", s.ID, how, indentRest(*s.Error, "    "))
	}
}

// writeOutput prints a run's output: text as it is, anything else as JSON.
func writeOutput(w io.Writer, v any) {
	if s, ok := v.(string); ok {
		fmt.Fprint(w, s)
		if !strings.HasSuffix(s, "\n") {
			fmt.Fprintln(w)
		}
		return
	}
	_ = writeJSON(w, v)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// gatherInputs merges, in increasing precedence, the inputs file, the --args
// JSON object and the --input NAME=VALUE flags.
func gatherInputs(ctx context.Context, args []string, argsJSON, file string) (map[string]any, error) {
	given := map[string]any{}
	if file != "" {
		m, err := readInputsFile(ctx, file)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			given[k] = v
		}
	}
	if argsJSON != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(argsJSON), &m); err != nil || m == nil {
			return nil, usageErr(fmt.Errorf("--args must be a JSON object such as '{\"topic\": \"agents\"}': %v", jsonProblem(err)))
		}
		for k, v := range m {
			given[k] = v
		}
	}
	if len(args) > 0 {
		m, err := parseInputArgs(args)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			given[k] = v
		}
	}
	return given, nil
}

// parseOverrides reads --override STEP=VALUE flags and the --overrides JSON
// object (keys STEP or KIND.STEP, as Python Kitaru writes them).
func parseOverrides(flags []string, overridesJSON string) (map[string]any, error) {
	out := map[string]any{}
	if overridesJSON != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(overridesJSON), &m); err != nil || m == nil {
			return nil, usageErr(fmt.Errorf("--overrides must be a JSON object such as '{\"checkpoint.research\": \"notes\"}': %v", jsonProblem(err)))
		}
		for k, v := range m {
			out[stripKindPrefix(k)] = v
		}
	}
	for _, f := range flags {
		step, value, ok := strings.Cut(f, "=")
		if !ok || step == "" {
			return nil, usageErr(fmt.Errorf("--override %q: write STEP=VALUE, e.g. --override research='Edited notes'", f))
		}
		out[stripKindPrefix(step)] = parseValue(value)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// stripKindPrefix turns "checkpoint.research" into "research"; step ids
// cannot hold a dot, so the prefix is never part of an id.
func stripKindPrefix(key string) string {
	for _, kind := range []string{"checkpoint.", "llm.", "wait.", "step.", "steps."} {
		if rest, ok := strings.CutPrefix(key, kind); ok && rest != "" {
			return rest
		}
	}
	return key
}

// parseValue reads VALUE as JSON when it parses as JSON, else as text.
func parseValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	return s
}

func jsonProblem(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}

// exampleJSON makes an answer that the schema would accept, for the hint
// printed when a run waits.
func exampleJSON(schema map[string]any) string {
	b, err := json.Marshal(exampleValue(schema, 0))
	if err != nil {
		return `"…"`
	}
	return string(b)
}

func exampleValue(schema map[string]any, depth int) any {
	if schema == nil || depth > 4 {
		return "…"
	}
	if ex, ok := schema["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	for _, k := range []string{"const", "default"} {
		if v, ok := schema[k]; ok {
			return v
		}
	}
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	typ, _ := schema["type"].(string)
	if types, ok := schema["type"].([]any); ok && len(types) > 0 {
		typ, _ = types[0].(string)
	}
	switch typ {
	case "boolean":
		return true
	case "integer", "number":
		if m, ok := schema["minimum"]; ok {
			return m
		}
		return 1
	case "array":
		items, _ := schema["items"].(map[string]any)
		return []any{exampleValue(items, depth+1)}
	case "object":
		props, _ := schema["properties"].(map[string]any)
		obj := map[string]any{}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			name, _ := r.(string)
			p, _ := props[name].(map[string]any)
			obj[name] = exampleValue(p, depth+1)
		}
		if len(obj) == 0 && len(props) > 0 {
			names := make([]string, 0, len(props))
			for name := range props {
				names = append(names, name)
			}
			sort.Strings(names)
			p, _ := props[names[0]].(map[string]any)
			obj[names[0]] = exampleValue(p, depth+1)
		}
		return obj
	case "null":
		return nil
	}
	return "…"
}

// shellQuote quotes s for a POSIX shell, so that hints can be pasted.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/+=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func indentRest(s, indent string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+indent)
}
