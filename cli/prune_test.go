package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// What prune and a refused delete say, as people read it.
func TestRemovalTextGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	at := time.Date(2026, 10, 1, 9, 30, 0, 0, time.UTC)
	kept := []engine.KeptRun{
		{ID: "kr-running1", Why: engine.KeepRunning, Holder: &runstore.Holder{Host: "build-7", PID: 4242}},
		{ID: "kr-waiting1", Why: engine.KeepWaiting},
		{ID: "kr-source01", Why: engine.KeepReused, By: []string{"kr-replay01"}},
		{ID: "kr-source02", Why: engine.KeepReused, By: []string{"kr-replay02", "kr-replay03", "kr-replay04"}},
	}
	removed := []engine.RemovedRun{
		{ID: "kr-old00001", Flow: "research_agent", Status: engine.RunCompleted, StartedAt: at},
		{ID: "kr-old00002", Flow: "digest", Status: engine.RunFailed, StartedAt: at.Add(time.Hour)},
		{ID: "kr-broken01", Damaged: true},
	}
	var b bytes.Buffer
	for _, rm := range []*engine.Removal{
		{Removed: removed, Kept: kept},
		{Removed: removed[:1], Kept: []engine.KeptRun{}, DryRun: true},
		{Removed: []engine.RemovedRun{}, Kept: []engine.KeptRun{}},
	} {
		if err := writeRemoval(&b, rm); err != nil {
			t.Fatal(err)
		}
		b.WriteString("--\n")
	}
	b.WriteString(refusalText(kept) + "\n")
	checkGolden(t, "cli/prune.txt.golden", b.String())
}

func TestJoinRuns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := joinRuns(tt.in); got != tt.want {
			t.Errorf("joinRuns(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
