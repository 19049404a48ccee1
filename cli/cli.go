// Package cli is kitaru's command line: kong commands and output formatting.
// It wires flowspec, engine, providers and keyring together and knows
// nothing about files on disk.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes, as in the command-line contract.
const (
	ExitOK          = 0
	ExitRunFailed   = 1
	ExitUsage       = 2
	ExitWaiting     = 3
	ExitInterrupted = 130
)

// ExitError carries the process exit code for an error. A nil Err with a
// non-zero Code means "exit quietly": the command already said why.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageErr marks an error as a usage or validation error (exit 2).
func usageErr(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// IO is where commands write. Tests swap it.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
}

// Globals are flags every command accepts.
type Globals struct {
	JSON    bool             `help:"Print machine-readable JSON on stdout." name:"json"`
	Output  string           `short:"o" help:"Output format: 'json' is the same as --json." enum:",json,text" default:""`
	Version kong.VersionFlag `help:"Print the version and exit."`
	Store   string           `help:"Where runs are kept: a postgres:// URL of a database a team shares; unset, the files under the data directory." env:"KITARU_STORE" placeholder:"URL"`
}

// wantJSON says whether the user asked for JSON output.
func (g *Globals) wantJSON() bool { return g.JSON || g.Output == "json" }

// root is the whole command tree.
type root struct {
	Globals

	Run        runCmd        `cmd:"" help:"Validate a flow, then run it."`
	Replay     replayCmd     `cmd:"" help:"Make a new run that reuses recorded step results."`
	Resume     resumeCmd     `cmd:"" help:"Continue an interrupted or answered run in place."`
	Retry      retryCmd      `cmd:"" help:"Continue a failed run in place: failed and never-run steps run again."`
	Input      inputCmd      `cmd:"" help:"Answer a wait step, then resume the run."`
	Executions executionsCmd `cmd:"" help:"List, inspect, follow and cancel runs."`
	Worker     workerCmd     `cmd:"" help:"Execute runs on Temporal: poll its task queue for their steps."`
	UI         uiCmd         `cmd:"" name:"ui" help:"Serve a web page of the runs, live, with their actions."`
	Validate   validateCmd   `cmd:"" help:"Check a flow file and report every error at once."`
	Graph      graphCmd      `cmd:"" help:"Print a flow's step graph."`
	Schema     schemaCmd     `cmd:"" help:"Print the JSON Schema of the flow format."`
	Secrets    secretsCmd    `cmd:"" help:"Store provider keys and other secrets in the OS keyring."`
	Model      modelCmd      `cmd:"" help:"Register model aliases such as 'fast' → openai/gpt-4o-mini."`
	Status     statusCmd     `cmd:"" help:"Show version, directories, keyring, aliases and settings."`
	StoreCmd   storeCmd      `cmd:"" name:"store" help:"Copy runs into a shared store."`
	Init       initCmd       `cmd:"" help:"Write a starter flow to try kitaru with."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script: bash, zsh or fish."`
	Complete   completeCmd   `cmd:"" name:"__complete" hidden:"" passthrough:""`
}

// Main runs kitaru with args (without the program name) and returns the
// process exit code.
func Main(args []string) int {
	// Ctrl-C and SIGTERM cancel the context: the engine stops in-flight
	// steps and records the run interrupted. A second signal, once the
	// first has been seen, kills the process the default way. A SIGINT
	// that was ignored when kitaru started (a shell script's background
	// job) stays ignored, as the one who started kitaru meant. On Windows
	// Ctrl-C and Ctrl-Break arrive as os.Interrupt, and closing the console,
	// logging off or shutting down as SIGTERM.
	sigs := []os.Signal{syscall.SIGTERM}
	if !signal.Ignored(os.Interrupt) {
		sigs = append(sigs, os.Interrupt)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return runContext(ctx, args, IO{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin})
}

func run(args []string, stdio IO) int {
	return runContext(context.Background(), args, stdio)
}

func runContext(ctx context.Context, args []string, stdio IO) (code int) {
	defer func() {
		// A panic is a bug, but the user still deserves a sentence, not a trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stdio.Stderr, "kitaru: internal error: %v\nPlease report this with the command you ran.\n", r)
			code = ExitRunFailed
		}
	}()
	var cli root
	exited := false
	exitCode := 0
	parser, err := kong.New(&cli,
		kong.Name("kitaru"),
		kong.Description("Run durable LLM flows declared in YAML."),
		kong.UsageOnError(),
		kong.Vars{"version": "kitaru " + Version},
		kong.Writers(stdio.Stdout, stdio.Stderr),
		kong.Exit(func(c int) { exited = true; exitCode = c }),
		kong.Bind(&cli.Globals, &stdio),
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "kitaru: %v\n", err)
		return ExitRunFailed
	}
	if len(args) == 0 {
		// A bare `kitaru` is a person asking what it does.
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(preprocessArgs(args))
	if exited {
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "kitaru: %v\n", err)
		fmt.Fprintf(stdio.Stderr, "Run '%s --help' for usage.\n", commandPath(kctx, err))
		return ExitUsage
	}
	if cli.Globals.Store != "" {
		// The flag is a spelling of the variable: this process and the
		// commands its flows run (a nested kitaru) use the same store.
		os.Setenv(storeEnv, cli.Globals.Store)
		warnStoreFlagPassword(stdio.Stderr, args, cli.Globals.Store)
	}
	defer closeStores()
	defer closeTemporal()
	err = kctx.Run()
	if exited {
		return exitCode
	}
	return reportError(stdio.Stderr, err)
}

// commandPath names the command a parse error is about ("kitaru run"), so
// the hint points at the right help.
func commandPath(kctx *kong.Context, err error) string {
	var pe *kong.ParseError
	if kctx == nil && errors.As(err, &pe) {
		kctx = pe.Context
	}
	if kctx != nil {
		for n := kctx.Selected(); n != nil; n = n.Parent {
			if n.Type == kong.CommandNode {
				return n.FullPath()
			}
		}
	}
	return "kitaru"
}

// reportError prints err for a person and maps it to an exit code.
func reportError(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(w, "kitaru: %s\n", explain(ee.Err))
		}
		return ee.Code
	}
	fmt.Fprintf(w, "kitaru: %s\n", explain(err))
	return ExitRunFailed
}

// preprocessArgs rewrites spellings kong cannot express directly (such as
// `secrets set NAME --KEY=VALUE`, whose flag names are the user's).
func preprocessArgs(args []string) []string {
	return rewriteSecretSetArgs(args)
}
