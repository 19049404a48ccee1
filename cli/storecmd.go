package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storecopy"
)

// kitaru store: moving runs between stores.

type storeCmd struct {
	Copy storeCopyCmd `cmd:"" help:"Copy this store's runs into another (a team's database)."`
}

type storeCopyCmd struct {
	To string `required:"" placeholder:"URL" help:"The store to copy into: a postgres:// URL."`
}

func (c *storeCopyCmd) Help() string {
	return `Copies every run of the current store (KITARU_STORE, or the files under
the data directory when it is unset) that the other store does not have,
with its records, artifacts, journal and log, under the same ids: replays
keep the steps they reuse from the runs they were made from. Runs the
other store already has are left as they are, so copying again copies
only what is new. A run being run is skipped; copy again once it stops.
The cache of answers (llm steps' cache:) goes along: each answer the
other store lacks, or holds only from before.

Examples:

    kitaru store copy --to postgres://me@db.example.com/kitaru`
}

type copyReport struct {
	To      string   `json:"to"`
	Copied  []string `json:"copied"`
	Present []string `json:"present"`
	Running []string `json:"running"`
	Damaged []string `json:"damaged"`
	Cached  int      `json:"cached"` // answers of the cache copied
}

func (c *storeCopyCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	if !pgstore.IsURL(c.To) {
		return usageErr(fmt.Errorf("--to %s: give the postgres:// URL of the database to copy into", pgstore.Redact(c.To)))
	}
	if c.To == os.Getenv(storeEnv) {
		return usageErr(fmt.Errorf("--to %s is the current store already", pgstore.Redact(c.To)))
	}
	from, err := openStore(ctx)
	if err != nil {
		return cmdErr(err)
	}
	to, err := openPostgres(ctx, c.To)
	if err != nil {
		return cmdErr(err)
	}
	host, _ := os.Hostname()
	rep, err := storecopy.Copy(ctx, from, to, runstore.Holder{Host: host, PID: os.Getpid()})
	out := copyReport{To: pgstore.Redact(c.To), Copied: []string{}, Present: []string{}, Running: []string{}, Damaged: []string{}}
	if rep != nil {
		out.Cached = rep.Cached
		for _, r := range rep.Runs {
			switch {
			case r.Outcome == storecopy.Copied && r.Err == nil:
				out.Copied = append(out.Copied, r.ID)
			case r.Outcome == storecopy.Present:
				out.Present = append(out.Present, r.ID)
			case r.Outcome == storecopy.Running:
				out.Running = append(out.Running, r.ID)
			case r.Outcome == storecopy.Damaged:
				out.Damaged = append(out.Damaged, r.ID)
				fmt.Fprintf(stdio.Stderr, "kitaru: run %s was not copied: %s\n", r.ID, explain(r.Err))
			}
		}
	}
	if g.wantJSON() {
		if werr := writeJSON(stdio.Stdout, out); werr != nil && err == nil {
			err = werr
		}
	} else {
		fmt.Fprintf(stdio.Stdout, "copied %d %s to %s", len(out.Copied), plural(len(out.Copied), "run", "runs"), out.To)
		if n := len(out.Present); n > 0 {
			fmt.Fprintf(stdio.Stdout, "; %d already there", n)
		}
		fmt.Fprintln(stdio.Stdout)
		if n := out.Cached; n > 0 {
			fmt.Fprintf(stdio.Stdout, "copied %d cached %s\n", n, plural(n, "answer", "answers"))
		}
		if n := len(out.Running); n > 0 {
			fmt.Fprintf(stdio.Stdout, "%d %s being run now, not copied: %v; copy again once %s\n", n, plural(n, "run is", "runs are"), out.Running, plural(n, "it stops", "they stop"))
		}
	}
	var part *storecopy.PartialError
	if errors.As(err, &part) {
		// That run is in the target in part, and copying again would find
		// it there: it must go first.
		return cmdErr(fmt.Errorf("the copy stopped; run %s is in the target in part (it reads as interrupted there): once the target answers, delete it there (KITARU_STORE=%s kitaru executions delete %s) and copy again; what else was copied is whole: %w",
			part.ID, out.To, part.ID, err))
	}
	if err != nil {
		return cmdErr(fmt.Errorf("the copy stopped (what was copied is kept whole; copying again goes on from there): %w", err))
	}
	return nil
}
