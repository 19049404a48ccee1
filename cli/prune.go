package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/humantime"
)

// executions delete and executions prune: removing runs, never one whose
// records a kept replay reuses (see engine.Housekeeper).

// newHousekeeper builds the engine that removes runs; a variable, as
// newRunner is.
var newHousekeeper = func() (engine.Housekeeper, error) {
	st, err := openStore(context.Background())
	if err != nil {
		return nil, err
	}
	ttl, err := leaseTTL()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return engine.New(engine.Config{Store: st, Holder: runstore.Holder{Host: host, PID: os.Getpid()}, LeaseTTL: ttl}), nil
}

type deleteCmd struct {
	RunRefs []string `arg:"" name:"run" help:"The runs: ids, prefixes, or 'last'."`
}

func (c *deleteCmd) Help() string {
	return `Removes the runs and every record of them, or none of them: a run that
is running or waiting for input, or whose records a replay you keep reuses
(a replay keeps the steps it reused in the run it took them from), is
refused with what to do. Delete a run together with the replays that reuse
it, or keep it.

Examples:

    kitaru executions delete kr-3f9a
    kitaru executions delete kr-3f9a kr-77c1 --json`
}

func (c *deleteCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	h, err := newHousekeeper()
	if err != nil {
		return cmdErr(err)
	}
	rm, err := h.Delete(ctx, c.RunRefs)
	var refused *engine.RefusedError
	if errors.As(err, &refused) {
		if g.wantJSON() {
			if werr := writeJSON(stdio.Stdout, &engine.Removal{Removed: []engine.RemovedRun{}, Kept: refused.Kept}); werr != nil {
				return werr
			}
		}
		return usageErr(errors.New(refusalText(refused.Kept)))
	}
	if err != nil && rm == nil {
		return cmdErr(err)
	}
	if g.wantJSON() {
		if werr := writeJSON(stdio.Stdout, rm); werr != nil {
			return werr
		}
	} else {
		for _, r := range rm.Removed {
			fmt.Fprintf(stdio.Stdout, "deleted run %s\n", r.ID)
		}
	}
	return cmdErr(err)
}

// refusalText says why nothing was deleted, a run a line, each with what
// to do.
func refusalText(kept []engine.KeptRun) string {
	var b strings.Builder
	b.WriteString("nothing was deleted:")
	for _, k := range kept {
		fmt.Fprintf(&b, "\n  run %s: %s; %s", k.ID, keptWhy(k), keptRemedy(k))
	}
	return b.String()
}

// keptWhy is why run k stays, as a clause.
func keptWhy(k engine.KeptRun) string {
	switch k.Why {
	case engine.KeepRunning:
		who := "another process"
		if k.Holder != nil && k.Holder.PID > 0 {
			who = "process " + strconv.Itoa(k.Holder.PID)
			if k.Holder.Host != "" {
				who += " on " + k.Holder.Host
			}
		}
		return "it is being run by " + who
	case engine.KeepWaiting:
		return "it is waiting for input"
	case engine.KeepReused:
		return fmt.Sprintf("%s %s its step records", joinRuns(k.By), plural(len(k.By), "reuses", "reuse"))
	}
	return "it was kept"
}

// keptRemedy is what lets run k go.
func keptRemedy(k engine.KeptRun) string {
	switch k.Why {
	case engine.KeepRunning:
		return fmt.Sprintf("wait for it, or stop it with `kitaru executions cancel %s`", k.ID)
	case engine.KeepWaiting:
		return fmt.Sprintf("answer it, or end it with `kitaru input %s --abort`", k.ID)
	case engine.KeepReused:
		return fmt.Sprintf("delete them together (`kitaru executions delete %s %s`), or keep it", k.ID, strings.Join(k.By, " "))
	}
	return "nothing to do"
}

// joinRuns names runs as a sentence does: "a", "a and b", "a, b and c".
func joinRuns(ids []string) string {
	if len(ids) <= 1 {
		return strings.Join(ids, "")
	}
	return strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
}

type pruneCmd struct {
	OlderThan string `required:"" help:"Remove runs that ended (or, never ended, started) longer ago than this: 30d, 12h, 2w, 90m." placeholder:"AGE"`
	Status    string `help:"Only runs with this status (waiting runs are pruned only when asked for by name; running ones never)." enum:",waiting,completed,failed,cancelled,interrupted" default:""`
	DryRun    bool   `help:"Remove nothing: list what would be removed and what kept."`
}

func (c *pruneCmd) Help() string {
	return `Removes old runs. A run that is running is never removed, nor a
waiting one unless --status waiting; a run whose records a replay that
stays reuses is kept (and said so), and goes with that replay when both
are old enough.

Examples:

    kitaru executions prune --older-than 30d --dry-run
    kitaru executions prune --older-than 12h --status failed`
}

func (c *pruneCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	age, err := humantime.ParseAge(c.OlderThan)
	if err != nil {
		return usageErr(fmt.Errorf("--older-than: %w", err))
	}
	h, err := newHousekeeper()
	if err != nil {
		return cmdErr(err)
	}
	rm, err := h.Prune(ctx, engine.PruneOptions{Before: time.Now().Add(-age), Status: engine.RunStatus(c.Status), DryRun: c.DryRun})
	if rm == nil {
		return cmdErr(err)
	}
	if g.wantJSON() {
		if werr := writeJSON(stdio.Stdout, rm); werr != nil {
			return werr
		}
	} else if werr := writeRemoval(forPeople(stdio.Stdout), rm); werr != nil {
		return werr
	}
	return cmdErr(err)
}

// writeRemoval prints what prune removed (or would) and kept.
func writeRemoval(w io.Writer, rm *engine.Removal) error {
	verb := "deleted"
	if rm.DryRun {
		verb = "would delete"
	}
	if len(rm.Removed) > 0 {
		tw := newTable(w)
		for _, r := range rm.Removed {
			flow, status := r.Flow, string(r.Status)
			if r.Damaged {
				flow, status = "-", "damaged"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tstarted %s\n", verb, r.ID, flow, status, fmtTime(r.StartedAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, k := range rm.Kept {
		fmt.Fprintf(w, "kept %s: %s\n", k.ID, keptWhy(k))
	}
	n := len(rm.Removed)
	sum := fmt.Sprintf("%d %s deleted", n, plural(n, "run", "runs"))
	if rm.DryRun {
		sum = fmt.Sprintf("%d %s would be deleted (dry run: nothing was)", n, plural(n, "run", "runs"))
	}
	if len(rm.Kept) > 0 {
		sum += fmt.Sprintf(", %d kept", len(rm.Kept))
	}
	_, err := fmt.Fprintln(w, sum)
	return err
}
