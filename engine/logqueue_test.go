package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// stallingLogStore takes its time over every log append, as a database
// whose log table is locked, or that is restarting, does.
type stallingLogStore struct {
	runstore.Store
	stall   time.Duration
	appends atomic.Int32
}

func (s *stallingLogStore) AppendLog(ctx context.Context, id string, lines ...runstore.LogLine) error {
	s.appends.Add(1)
	time.Sleep(s.stall)
	return s.Store.AppendLog(ctx, id, lines...)
}

// A store slow to take log lines does not hold up the command printing
// them (whose output would fill its pipe, and whose end kitaru waits
// for a bounded time): the step completes, and every line is in the log
// once the run has ended, in order.
func TestLogLinesDoNotWaitForTheStore(t *testing.T) {
	t.Parallel()
	st := &stallingLogStore{Store: memstore.New(), stall: 3 * time.Second}
	te := newEnvOver(t, st, "")
	f := te.flow(`name: chatty
steps:
  talk:
    kind: checkpoint
    run: for i in 1 2 3 4 5; do echo line $i; sleep 0.05; done; echo done
`)
	run := te.start(f, nil)
	if run.Status != RunCompleted || step(t, run, "talk").Output != "line 1\nline 2\nline 3\nline 4\nline 5\ndone" {
		t.Fatalf("the run is %s, its step %+v", run.Status, step(t, run, "talk"))
	}
	lines, err := st.Logs(context.Background(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Text)
	}
	if want := "line 1 line 2 line 3 line 4 line 5 done"; !strings.Contains(strings.Join(got, " "), want) {
		t.Errorf("the log holds %q, want %q in order", got, want)
	}
	if n := st.appends.Load(); n >= 6 {
		t.Errorf("%d appends for 6 lines that came while the store was busy; want them grouped", n)
	}
}
