package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// cancelOnLease is a store that, each time it leases a run, has another
// engine (another process, over the same records) cancel it at once: the
// cancel lands just after the run's lease was taken, before it started.
type cancelOnLease struct {
	runstore.Store
	other *Engine
	t     *testing.T
}

func (s *cancelOnLease) cancel(id string) {
	if _, err := s.other.Cancel(context.Background(), id); err != nil {
		s.t.Errorf("cancel: %v", err)
	}
}

func (s *cancelOnLease) Create(ctx context.Context, meta *RunMeta, src []byte, h runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	l, err := s.Store.Create(ctx, meta, src, h, ttl)
	if err == nil {
		s.cancel(meta.ID)
	}
	return l, err
}

func (s *cancelOnLease) Acquire(ctx context.Context, id string, h runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	l, err := s.Store.Acquire(ctx, id, h, ttl)
	if err == nil {
		s.cancel(id)
	}
	return l, err
}

// A cancel asked after a run's (or a resume's) lease was taken stops it,
// however early it lands; one asked of an earlier go at the run does not
// stop a later resume.
func TestCancelAsTheRunStarts(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) (mine, other runstore.Store){
		"memstore": func(t *testing.T) (runstore.Store, runstore.Store) {
			s := memstore.New()
			return s, s
		},
		"filestore": func(t *testing.T) (runstore.Store, runstore.Store) {
			home := t.TempDir()
			return filestore.New(home), filestore.New(home)
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mine, theirs := mk(t)
			te := newEnvOver(t, mine, "")
			f := te.flow(waitFlow)
			racing := New(Config{Store: &cancelOnLease{Store: mine, other: New(Config{Store: theirs}), t: t}})

			// Start, cancelled as it starts.
			in, _ := f.BindInputs(nil)
			run, err := racing.Start(t.Context(), StartOptions{Flow: f, Inputs: in})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCancelled)
			if n := te.count("draft"); n != 0 {
				t.Errorf("draft ran %d times in a run cancelled as it started", n)
			}

			// A run waiting, whose cancel came too late for its go: the
			// request is stale for the resume after the answer.
			run = te.start(f, nil)
			wantStatus(t, run, RunWaiting)
			if err := mine.RequestCancel(t.Context(), run.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := te.eng.Answer(t.Context(), run.ID, "approval", json.RawMessage(`false`)); err != nil {
				t.Fatal(err)
			}
			got, err := te.eng.Resume(t.Context(), run.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, RunCompleted)

			// A resume cancelled as it starts.
			run = te.start(f, nil)
			wantStatus(t, run, RunWaiting)
			if _, err := te.eng.Answer(t.Context(), run.ID, "approval", json.RawMessage(`false`)); err != nil {
				t.Fatal(err)
			}
			got, err = racing.Resume(t.Context(), run.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, RunCancelled)
		})
	}
}
