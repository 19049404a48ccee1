package storecopy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storecopy"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/pgtest"
)

var server *pgtest.Server

func TestMain(m *testing.M) {
	var why string
	server, why = pgtest.Shared()
	if server == nil {
		fmt.Fprintln(os.Stderr, "storecopy: the PostgreSQL cases skip:", why)
	}
	code := m.Run()
	if server != nil {
		server.Close()
	}
	os.Exit(code)
}

const flowText = `name: copied
steps:
  a:
    kind: checkpoint
    value: one
  b:
    kind: checkpoint
    foreach: ${{ [1, 2, 3] }}
    value: ${{ item * 10 }}
  c:
    kind: checkpoint
    needs: [a, b]
    value: ${{ steps.a.output }} done
output: ${{ steps.c.output }}
`

// Runs recorded on one store read the same on another after a copy,
// replay links included, and a second copy copies nothing.
func TestCopy(t *testing.T) {
	targets := []struct {
		name string
		open func(t *testing.T) runstore.Store
	}{
		{"memstore", func(*testing.T) runstore.Store { return memstore.New() }},
		{"pgstore", func(t *testing.T) runstore.Store {
			if server == nil {
				t.Skip("no PostgreSQL server binaries")
			}
			st, err := pgstore.Open(context.Background(), server.DatabaseURL(t, "copy_"+t.Name()[len("TestCopy/"):]), pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			return st
		}},
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			from := filestore.New(t.TempDir())
			src := engine.New(engine.Config{Store: from, WorkDir: t.TempDir()})
			f, err := flowspec.Parse("copied.yaml", []byte(flowText), flowspec.Options{})
			if err != nil {
				t.Fatal(err)
			}
			first, err := src.Start(ctx, engine.StartOptions{Flow: f})
			if err != nil {
				t.Fatal(err)
			}
			replay, err := src.Replay(ctx, engine.ReplayOptions{Source: first.ID, From: "c", Flow: f})
			if err != nil {
				t.Fatal(err)
			}

			// The cache goes along: an answer the target lacks, and one it
			// holds from before; a newer one there is kept.
			at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			answer := func(text string, at time.Time) *runstore.CacheEntry {
				return &runstore.CacheEntry{Run: first.ID, Step: "a", Text: text, Model: "openai/gpt-4o-mini", At: at}
			}
			keys := []string{storetest.CacheKey("lacked"), storetest.CacheKey("older there"), storetest.CacheKey("newer there")}
			for _, k := range keys {
				if err := from.PutCached(ctx, k, answer("source's", at)); err != nil {
					t.Fatal(err)
				}
			}
			to := tt.open(t)
			if err := to.PutCached(ctx, keys[1], answer("target's", at.Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}
			if err := to.PutCached(ctx, keys[2], answer("target's", at.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			rep, err := storecopy.Copy(ctx, from, to, runstore.Holder{Host: "test", PID: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Count(storecopy.Copied) != 2 {
				t.Fatalf("copied %d runs, want 2: %+v", rep.Count(storecopy.Copied), rep.Runs)
			}
			if rep.Cached != 2 {
				t.Errorf("copied %d cached answers, want 2", rep.Cached)
			}
			for i, want := range []string{"source's", "source's", "target's"} {
				if e, err := to.GetCached(ctx, keys[i], time.Time{}); err != nil || e == nil || e.Text != want {
					t.Errorf("cache entry %d in the target: %+v, %v; want the %s", i, e, err, want)
				}
			}
			dst := engine.New(engine.Config{Store: to, WorkDir: t.TempDir()})
			for _, id := range []string{first.ID, replay.ID} {
				want, err := src.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				got, err := dst.Get(ctx, id)
				if err != nil {
					t.Fatalf("the copy of %s: %v", id, err)
				}
				if w, g := asJSON(t, want), asJSON(t, got); w != g {
					t.Errorf("run %s reads differently after the copy:\nsource %s\ncopy   %s", id, w, g)
				}
				wl, _, _ := from.Events(ctx, id, 0, 0)
				gl, _, _ := to.Events(ctx, id, 0, 0)
				if len(wl) != len(gl) || len(wl) == 0 {
					t.Errorf("run %s: %d events in the source, %d in the copy", id, len(wl), len(gl))
				}
			}
			again, err := storecopy.Copy(ctx, from, to, runstore.Holder{Host: "test", PID: 1})
			if err != nil || again.Count(storecopy.Present) != 2 || again.Count(storecopy.Copied) != 0 || again.Cached != 0 {
				t.Errorf("a second copy: %+v, %d cached, %v; want both runs present, no answer copied again", again.Runs, again.Cached, err)
			}
		})
	}
}

// A run being run is not copied: its records are still changing.
func TestCopySkipsARunBeingRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	from, run := ranOnce(t)
	l, err := from.Acquire(ctx, run.ID, runstore.Holder{Host: "elsewhere", PID: 7}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Release(ctx, l)
	to := memstore.New()
	rep, err := storecopy.Copy(ctx, from, to, runstore.Holder{Host: "test", PID: 1})
	if err != nil || rep.Count(storecopy.Running) != 1 {
		t.Fatalf("copy of a held run: %+v, %v", rep.Runs, err)
	}
	if ok, _ := to.Exists(ctx, run.ID); ok {
		t.Error("a run being run was copied")
	}
}

func asJSON(t *testing.T, r *engine.Run) string {
	t.Helper()
	c := *r
	c.Dir = ""
	c.Steps = append([]runstore.StepResult(nil), r.Steps...)
	for i := range c.Steps {
		c.Steps[i].Dir = ""
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brokenTarget fails every step record and every Delete, as a database
// gone mid-copy does.
type brokenTarget struct{ runstore.Store }

var errGone = errors.New("the server went away")

func (b brokenTarget) SaveStep(context.Context, string, *runstore.StepResult) error { return errGone }
func (b brokenTarget) Delete(context.Context, *runstore.Lease) error                { return errGone }

// A copy cut short that cannot be taken back says which run is left in
// part, and that part reads as interrupted there, never as the whole run.
func TestCopyCutShortLeavesAnInterruptedPart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	from, run := ranOnce(t)
	to := memstore.New()
	_, err := storecopy.Copy(ctx, from, brokenTarget{to}, runstore.Holder{Host: "test", PID: 1})
	var part *storecopy.PartialError
	if !errors.As(err, &part) || part.ID != run.ID || !errors.Is(err, errGone) {
		t.Fatalf("a copy cut short = %v, want a *PartialError of run %s", err, run.ID)
	}
	got, err := engine.New(engine.Config{Store: to, WorkDir: t.TempDir()}).Get(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != engine.RunInterrupted {
		t.Errorf("the part left in the target reads %s, want interrupted", got.Status)
	}
}

// ranOnce is a file store holding one completed run of flowText.
func ranOnce(t *testing.T) (*filestore.Store, *engine.Run) {
	t.Helper()
	from := filestore.New(t.TempDir())
	f, err := flowspec.Parse("copied.yaml", []byte(flowText), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := engine.New(engine.Config{Store: from, WorkDir: t.TempDir()}).Start(context.Background(), engine.StartOptions{Flow: f})
	if err != nil {
		t.Fatal(err)
	}
	return from, run
}
