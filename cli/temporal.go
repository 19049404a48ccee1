package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/engine/temporal"
)

// Runs on Temporal: with KITARU_TEMPORAL_ADDRESS set, `kitaru run` starts
// a flow as a Temporal workflow and `kitaru worker` executes its steps;
// both need a store every worker shares (KITARU_STORE=postgres://…).

const (
	temporalAddressEnv   = "KITARU_TEMPORAL_ADDRESS"
	temporalNamespaceEnv = "KITARU_TEMPORAL_NAMESPACE"
	temporalQueueEnv     = "KITARU_TEMPORAL_TASK_QUEUE"
	// temporalHeartbeatEnv is the heartbeat timeout of the steps of the
	// runs this machine starts: how soon a dead worker's step runs again.
	temporalHeartbeatEnv = "KITARU_TEMPORAL_HEARTBEAT"
)

// temporalConfig is where runs execute on Temporal; ok is false when
// KITARU_TEMPORAL_ADDRESS is unset (runs execute in this process).
type temporalConfig struct {
	Address, Namespace, TaskQueue string
}

func temporalFromEnv() (temporalConfig, bool) {
	tc := temporalConfig{Address: os.Getenv(temporalAddressEnv), Namespace: os.Getenv(temporalNamespaceEnv), TaskQueue: os.Getenv(temporalQueueEnv)}
	if tc.Namespace == "" {
		tc.Namespace = "default"
	}
	if tc.TaskQueue == "" {
		tc.TaskQueue = "kitaru"
	}
	return tc, tc.Address != ""
}

// temporalClients keeps the connection this process opened, closed at
// exit with the stores.
var temporalClients struct {
	sync.Mutex
	c   client.Client
	key temporalConfig
}

// dialTemporal connects (once per process) to the server tc names.
func dialTemporal(ctx context.Context, tc temporalConfig) (client.Client, error) {
	temporalClients.Lock()
	defer temporalClients.Unlock()
	if temporalClients.c != nil && temporalClients.key == tc {
		return temporalClients.c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := temporal.Dial(ctx, tc.Address, tc.Namespace)
	if errors.Is(err, temporal.ErrNoNamespace) {
		return nil, usageErr(fmt.Errorf("%w (create it, or name another with %s)", err, temporalNamespaceEnv))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot use Temporal (%s=%s): %w", temporalAddressEnv, tc.Address, err)
	}
	temporalClients.c, temporalClients.key = c, tc
	return c, nil
}

func closeTemporal() {
	temporalClients.Lock()
	defer temporalClients.Unlock()
	if temporalClients.c != nil {
		temporalClients.c.Close()
		temporalClients.c = nil
	}
}

// sharedStore checks that st is one every worker can reach.
func sharedStore(st runstore.Store) error {
	if _, ok := st.(*pgstore.Store); !ok {
		return usageErr(fmt.Errorf("runs on Temporal (%s) need a run store every worker shares: set %s to a postgres:// URL", temporalAddressEnv, storeEnv))
	}
	return nil
}

// temporalRunner is the runner of runs on Temporal over the engine eng.
func temporalRunner(eng *engine.Engine, obs engine.Observer, tc temporalConfig) (engine.Runner, error) {
	if err := sharedStore(eng.Store()); err != nil {
		return nil, err
	}
	var hb time.Duration
	if v := os.Getenv(temporalHeartbeatEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return nil, usageErr(fmt.Errorf("%s=%s is not a duration of a second or more (for example 30s)", temporalHeartbeatEnv, v))
		}
		hb = d
	}
	c, err := dialTemporal(context.Background(), tc)
	if err != nil {
		return nil, err
	}
	return &temporal.Runner{Engine: eng, Client: c, Namespace: tc.Namespace, TaskQueue: tc.TaskQueue, Observer: obs, Heartbeat: hb}, nil
}

type workerCmd struct {
	Parallel int `help:"Run at most N steps or foreach items at once in this worker (default 8)." placeholder:"N"`
}

func (c *workerCmd) Help() string {
	return `Polls the Temporal task queue (` + temporalAddressEnv + `, ` + temporalNamespaceEnv + `
default "default", ` + temporalQueueEnv + ` default "kitaru") and executes the
runs started there by kitaru run: their workflows, and their steps as
activities. Start any number, on any machines that share the run store
(` + storeEnv + `=postgres://…); a worker killed mid-step is survived, its
step is tried again on another. It stops on Ctrl-C or SIGTERM.

Example:

    KITARU_TEMPORAL_ADDRESS=temporal:7233 KITARU_STORE=postgres://… kitaru worker --parallel 16`
}

func (c *workerCmd) Run(ctx context.Context, stdio *IO) error {
	tc, ok := temporalFromEnv()
	if !ok {
		return usageErr(fmt.Errorf("a worker executes runs on Temporal: set %s to the server's host:port", temporalAddressEnv))
	}
	st, err := openStore(ctx)
	if err != nil {
		return cmdErr(err)
	}
	if err := sharedStore(st); err != nil {
		return err
	}
	tcl, err := dialTemporal(ctx, tc)
	if err != nil {
		return cmdErr(err)
	}
	ttl, err := leaseTTL()
	if err != nil {
		return err
	}
	cfg := engineConfig(st, nil, stdio.Stderr)
	cfg.LeaseTTL = ttl
	n := c.Parallel
	if n <= 0 {
		n = 8
	}
	w := worker.New(tcl, tc.TaskQueue, temporal.WorkerOptions(n))
	temporal.Register(w, &temporal.Activities{Engine: engine.New(cfg)})
	if err := w.Start(); err != nil {
		return fmt.Errorf("the worker could not start polling task queue %s: %w", tc.TaskQueue, err)
	}
	fmt.Fprintf(forPeople(stdio.Stderr), "worker polling task queue %s of namespace %s at %s, %d at once\n", tc.TaskQueue, tc.Namespace, tc.Address, n)
	<-ctx.Done()
	w.Stop()
	return nil
}
