package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/web"
)

type uiCmd struct {
	Addr   string `default:"127.0.0.1:8787" help:"The address to listen on (host:port; port 0 picks a free one)."`
	Remote bool   `help:"Allow an address other than loopback: anyone who can reach it and holds the token can run flows as you."`
}

func (c *uiCmd) Help() string {
	return `Serves the runs of this machine's store as a web page and a JSON API
(see the URL it prints; it carries the token every request needs). Runs
started from the page run in this process: stopping it (Ctrl-C) interrupts
them, and ` + "`kitaru resume RUN`" + ` continues them.

Examples:
    kitaru ui
    kitaru ui --addr 127.0.0.1:0`
}

func (c *uiCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return usageErr(fmt.Errorf("--addr %q is not host:port (for example 127.0.0.1:8787): %w", c.Addr, err))
	}
	if !loopback(host) && !c.Remote {
		return usageErr(fmt.Errorf("--addr %s is not a loopback address: anyone who reaches it with the token can run commands as you; add --remote if that is what you want", c.Addr))
	}
	fs, err := openStore(ctx)
	if err != nil {
		return cmdErr(err)
	}
	var st runstore.Store = fs
	eng := engine.New(engineConfig(st, nil, stdio.Stderr))
	loc, _ := st.(runstore.Locator)
	var hosts []string
	if !loopback(host) && host != "" {
		hosts = append(hosts, host)
	}
	var runner engine.Runner = locating{eng, loc}
	if tc, ok := temporalFromEnv(); ok {
		// The page's runs start, are answered and cancelled on Temporal.
		if runner, err = temporalRunner(eng, nil, tc); err != nil {
			return cmdErr(err)
		}
	}
	srv, err := web.New(web.Config{
		Runner:  runner,
		Subs:    eng,
		Graphs:  eng,
		Store:   st,
		Record:  func(r *engine.Run) any { return recordForJSON(r) },
		Step:    func(r *engine.Run, step string, item *int) (any, error) { return viewStep(r, step, item) },
		Explain: uiExplain,
		LoadFlow: func(ctx context.Context, path string) (*flowspec.Flow, error) {
			if path == "-" {
				return nil, errors.New(`"flow" must be the path of a flow file ("-", stdin, is the command line's)`)
			}
			return loadFlow(ctx, path, nil)
		},
		Hosts: hosts,
		Base:  ctx,
	})
	if err != nil {
		return cmdErr(err)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", c.Addr, err)
	}
	url := "http://" + ln.Addr().String() + "/?token=" + srv.Token()
	if !loopback(host) {
		fmt.Fprintf(stdio.Stderr, "kitaru: WARNING: serving on %s, beyond this machine, over plain HTTP: the token can be read on the way; whoever has it can run flows as you\n", ln.Addr())
	}
	fmt.Fprintf(stdio.Stderr, "kitaru ui: the runs of %s\n", storeName(fs))
	fmt.Fprintf(stdio.Stdout, "%s\n", url)
	// Requests live in ctx: Ctrl-C ends the event streams of open pages
	// at once, and the server's shutdown need not wait for them.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	// Runs started here stop interrupted (ctx ended).
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(shut)
	_ = hs.Close()
	for _, id := range srv.Wait() {
		fmt.Fprintf(stdio.Stderr, "kitaru: run %s was interrupted; `kitaru resume %s` continues it\n", id, id)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopback: an address or name that only this machine reaches.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// uiExplain words err as the command line does, the way out apart.
func uiExplain(err error) (msg, remedy string) {
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err != nil {
		err = ee.Err
	}
	if errors.Is(err, engine.ErrNotFound) && runstore.RemedyOf(err) == nil {
		err = runstore.Advise(err, runstore.Remedy{Do: runstore.RemedyListRuns}) // as cmdErr does
	}
	full := explain(err)
	r := runstore.RemedyOf(err)
	if r == nil {
		return full, ""
	}
	t := remedyText(*r)
	if t == "" {
		return full, ""
	}
	return strings.TrimSuffix(full, "; "+t), t
}
