package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/fsutil"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/kitaruhq/kitaru/providers"
)

// Wiring: the engine built from providers and the keyring, and the flow
// loading the run commands need.

// newRunner builds the engine; obs (nil for commands that only read)
// receives the run's events, stderr the secret store's warnings. It is a
// variable so the command logic can be unit-tested with a small fake Runner.
var newRunner = func(obs engine.Observer, stderr io.Writer) (engine.Runner, error) {
	st, err := openStore(context.Background())
	if err != nil {
		return nil, err
	}
	ttl, err := leaseTTL()
	if err != nil {
		return nil, err
	}
	cfg := engineConfig(st, obs, stderr)
	cfg.LeaseTTL = ttl
	if tc, ok := temporalFromEnv(); ok {
		return temporalRunner(engine.New(cfg), obs, tc)
	}
	loc, _ := st.(runstore.Locator)
	return locating{engine.New(cfg), loc}, nil
}

// engineConfig is the engine's wiring over st: this machine's models and
// secrets, this process as the holder of the runs it executes.
func engineConfig(st runstore.Store, obs engine.Observer, stderr io.Writer) engine.Config {
	secrets := &lazySecrets{warn: stderr}
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	var notes runstore.Locator
	if _, files := st.(runstore.Locator); !files {
		if dir, err := fsutil.DataDir(); err == nil {
			notes = filestore.ProcessNotes(filepath.Join(dir, "processes"))
		}
	}
	return engine.Config{
		ProcessNotes: notes,
		Store:        st,
		Holder:       runstore.Holder{Host: host, PID: os.Getpid()},
		Models:       modelsAdapter{secrets: secrets},
		Secrets:      secrets,
		Observer:     obs,
		Mask:         append(providers.EnvCredentials(os.Getenv), storeCredentials(os.Getenv)...),
		Warn:         func(err error) { fmt.Fprintf(stderr, "kitaru: %v\n", err) },
		WorkDir:      wd,
	}
}

// locating is a Runner whose records say where their files are (the
// "files" a record shows), for a store that keeps files.
type locating struct {
	engine.Runner
	loc runstore.Locator
}

func (l locating) place(r *engine.Run, err error) (*engine.Run, error) {
	if r == nil || l.loc == nil {
		return r, err
	}
	r.Dir = l.loc.Locate(r.ID, "", "")
	for i := range r.Steps {
		s := &r.Steps[i]
		home := r.ID
		if s.ReusedFrom != "" {
			home = s.ReusedFrom
		}
		s.Dir = l.loc.Locate(home, s.ID, "")
	}
	return r, err
}

func (l locating) Start(ctx context.Context, opts engine.StartOptions) (*engine.Run, error) {
	return l.place(l.Runner.Start(ctx, opts))
}

func (l locating) Resume(ctx context.Context, ref string, parallel int, opts ...engine.ContinueOption) (*engine.Run, error) {
	return l.place(l.Runner.Resume(ctx, ref, parallel, opts...))
}

func (l locating) Retry(ctx context.Context, ref string, parallel int, opts ...engine.ContinueOption) (*engine.Run, error) {
	return l.place(l.Runner.Retry(ctx, ref, parallel, opts...))
}

func (l locating) Replay(ctx context.Context, opts engine.ReplayOptions) (*engine.Run, error) {
	return l.place(l.Runner.Replay(ctx, opts))
}

func (l locating) Answer(ctx context.Context, ref, step string, value json.RawMessage) (*engine.Run, error) {
	return l.place(l.Runner.Answer(ctx, ref, step, value))
}

func (l locating) Abort(ctx context.Context, ref, step string) (*engine.Run, error) {
	return l.place(l.Runner.Abort(ctx, ref, step))
}

func (l locating) Cancel(ctx context.Context, ref string) (*engine.Run, error) {
	return l.place(l.Runner.Cancel(ctx, ref))
}

func (l locating) Get(ctx context.Context, ref string) (*engine.Run, error) {
	return l.place(l.Runner.Get(ctx, ref))
}

func (l locating) List(ctx context.Context, f engine.ListFilter) ([]*engine.Run, error) {
	runs, err := l.Runner.List(ctx, f)
	for _, r := range runs {
		l.place(r, nil)
	}
	return runs, err
}

// A flow or inputs the user wrote wrongly is a usage error (exit 2);
// flowspec's messages already name the file, line and column.

// loadFlow reads and compiles the flow file; Ctrl-C or SIGTERM ends a read
// that never returns (readInterruptibly).
func loadFlow(ctx context.Context, path string, stdin io.Reader) (*flowspec.Flow, error) {
	opts := flowspec.Options{CheckModel: providers.CheckModel}
	if path == "-" {
		// As kubectl -f - and docker compose -f - do: the flow comes from
		// stdin, is named <stdin> in errors, and runs in the current
		// directory.
		f, err := readInterruptibly(ctx, "the flow from", flowspec.StdinName, func() (*flowspec.Flow, error) {
			return flowspec.Read(flowspec.StdinName, stdin, opts)
		})
		return f, asUsage(err)
	}
	f, err := readInterruptibly(ctx, "the flow file", path, func() (*flowspec.Flow, error) {
		return flowspec.Load(path, opts)
	})
	return f, asUsage(err)
}

// readInterruptibly runs read (of the file at path, named what) so that a
// signal ends the wait for it: opening a FIFO that has no writer blocks in
// the kernel, where the signal does not interrupt it. The abandoned read
// ends with the process.
func readInterruptibly[T any](ctx context.Context, what, path string, read func() (T, error)) (T, error) {
	v, err := whileWaiting(ctx, read)
	if err == nil || ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return v, err
	}
	why := ""
	if st, serr := os.Stat(path); serr == nil && st.Mode()&os.ModeNamedPipe != 0 {
		why = " (it is a named pipe: reading it waits until something writes to it)"
	}
	return v, &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted while reading %s %s%s; nothing was run", what, path, why)}
}

func parseInputArgs(args []string) (map[string]any, error) {
	m, err := flowspec.ParseInputArgs(args)
	return m, asUsage(err)
}

func readInputsFile(ctx context.Context, path string) (map[string]any, error) {
	m, err := readInterruptibly(ctx, "the inputs file", path, func() (map[string]any, error) {
		return flowspec.ReadInputsFile(path)
	})
	return m, asUsage(err)
}

func bindInputs(f *flowspec.Flow, given map[string]any) (map[string]any, error) {
	m, err := f.BindInputs(given)
	return m, asUsage(err)
}

// modelsAdapter gives the engine model callers: new runs resolve with the
// registry on this machine now, resumed ones with the snapshot they recorded.
type modelsAdapter struct{ secrets keyring.Getter }

func (m modelsAdapter) Current() (providers.Registry, error) { return providers.LoadRegistry() }

func (m modelsAdapter) Caller(reg providers.Registry) providers.Caller {
	return providers.New(reg, providers.Options{Secrets: m.secrets})
}

// lazySecrets opens the keyring the first time a secret is asked for, so a
// run that uses environment variables or the mock never touches it (and
// never fails on a machine without a Secret Service).
type lazySecrets struct {
	warn  io.Writer // where the file backend's warning goes
	once  sync.Once
	store keyring.Getter
	err   error
}

func (l *lazySecrets) Get(name string) (map[string]string, error) {
	l.once.Do(func() {
		s, err := keyring.Open(keyring.Options{})
		if err != nil {
			l.err = err
			return
		}
		if w := s.Warning(); w != "" && l.warn != nil {
			fmt.Fprintf(l.warn, "kitaru: %s\n", w)
		}
		l.store = s
	})
	if l.err != nil {
		return nil, l.err
	}
	return l.store.Get(name)
}

func asUsage(err error) error {
	var ee *ExitError
	if err == nil || errors.As(err, &ee) {
		return err // nil, or an error that already says how to exit
	}
	return usageErr(err)
}

// newQuietRunner builds the engine for commands that only read or cancel.
func newQuietRunner(stdio *IO) (engine.Runner, error) { return newRunner(nil, stdio.Stderr) }

// cmdErr maps an error from flowspec or the engine to its exit code: what the
// user asked for wrongly exits 2, a run that does not exist too (with where
// to look), anything else 1.
func cmdErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, engine.ErrNotFound) {
		if runstore.RemedyOf(err) == nil {
			err = runstore.Advise(err, runstore.Remedy{Do: runstore.RemedyListRuns})
		}
		return usageErr(err)
	}
	var ue *engine.UsageError
	if errors.As(err, &ue) {
		return usageErr(err)
	}
	if errors.Is(err, context.Canceled) {
		return &ExitError{Code: ExitInterrupted, Err: err}
	}
	return err
}
