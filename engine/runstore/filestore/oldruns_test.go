package filestore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// oldRuns copies testdata/filestore, the data directory of the kitaru
// before the store's second edition (d0f0a8d), to a fresh one: two runs of
// examples/fan_out.yaml (one completed; one SIGKILLed in its join step,
// its lock left holding the bare pid of the dead process), one of that
// kitaru's examples/wait_and_resume.yaml answered with `input --no-resume`
// (its index still says approval is waiting; the step's record holds the
// answer), and one of a fan_slow flow SIGKILLed while the last of its
// three foreach items ran (two keyless item records, no step record; the
// process-group note it left is taken out, so that no test signals a
// group of this machine that has its number). Their journals have no seq
// fields. Tests write into the copy, never the original.
func oldRuns(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	if err := os.CopyFS(home, os.DirFS(filepath.Join("..", "..", "..", "testdata", "filestore"))); err != nil {
		t.Fatal(err)
	}
	return home
}

const (
	oldCompleted   = "kr-ejx4u67q"
	oldInterrupted = "kr-iarbry0c"
	oldDeadPID     = 21213 // in oldInterrupted's lock
	oldAnswered    = "kr-i93oejbv"
	oldKilledItems = "kr-fc5nqak9"
)

// Run directories written by the previous kitaru still read, whole.
func TestOldRunsRead(t *testing.T) {
	t.Parallel()
	s := New(oldRuns(t))
	page, err := s.Query(bg, runstore.Query{})
	if err != nil || len(page.Runs) != 4 || page.Runs[0].ID != oldKilledItems || page.Runs[1].ID != oldAnswered ||
		page.Runs[2].ID != oldInterrupted || page.Runs[3].ID != oldCompleted {
		t.Fatalf("query: %v, %v; want %s, %s, %s, %s", page.Runs, err, oldKilledItems, oldAnswered, oldInterrupted, oldCompleted)
	}
	if page, err := s.Query(bg, runstore.Query{Flow: "fan_out", Status: runstore.RunCompleted}); err != nil || len(page.Runs) != 1 || page.Runs[0].ID != oldCompleted {
		t.Fatalf("query of completed runs: %v, %v", page.Runs, err)
	}
	if id, err := runstore.Resolve(bg, s, "ejx"); err != nil || id != oldCompleted {
		t.Fatalf("Resolve(ejx) = %q, %v", id, err)
	}
	for _, tt := range []struct {
		id       string
		status   runstore.RunStatus
		steps    []string // steps with a record
		events   int
		lastType runstore.EventType
		logs     int
		lastLog  string
		holder   runstore.Holder // as its lock file reads
	}{
		{id: oldCompleted, status: runstore.RunCompleted, steps: []string{"join", "summarise"}, events: 9, lastType: runstore.EventRunFinished, logs: 6, lastLog: "join - hi"},
		{id: oldInterrupted, status: runstore.RunRunning, steps: []string{"summarise"}, events: 7, lastType: runstore.EventStepStarted, logs: 3, lastLog: "summarise model fast answered in 0s (0 tokens in, 0 out)", holder: runstore.Holder{PID: oldDeadPID}},
	} {
		t.Run(tt.id, func(t *testing.T) {
			m, err := s.LoadMeta(bg, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			wantPlan := []runstore.PlanStep{{ID: "summarise", Kind: "llm", Foreach: true}, {ID: "join", Kind: "checkpoint"}}
			if m.ID != tt.id || m.Flow != "fan_out" || m.Status != tt.status || !slices.Equal(m.Plan, wantPlan) || len(m.Inputs["topics"].([]any)) != 3 {
				t.Fatalf("meta %+v", m)
			}
			if tt.status == runstore.RunCompleted && (m.Output != "- hi\n- hi\n- hi" || m.Index["join"].Status != runstore.StepCompleted || m.Index["summarise"].Fingerprint == "") {
				t.Fatalf("completed meta: output %q, index %+v", m.Output, m.Index)
			}
			if src, err := s.FlowSource(bg, tt.id); err != nil || !strings.Contains(string(src), "name: fan_out") {
				t.Fatalf("flow source %q, %v", src, err)
			}

			steps, err := s.LoadSteps(bg, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for id, r := range steps {
				if r.Status != runstore.StepCompleted {
					t.Errorf("step %s: %s", id, r.Status)
				}
				got = append(got, id)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.steps) {
				t.Fatalf("steps with a record %q, want %q", got, tt.steps)
			}
			if out, _ := steps["summarise"].Output.([]any); len(out) != 3 || out[0] != "hi" {
				t.Fatalf("summarise output %#v", steps["summarise"].Output)
			}
			items, err := s.LoadItems(bg, tt.id, "summarise")
			if err != nil || len(items) != 3 {
				t.Fatalf("items %v, %v", items, err)
			}
			for i := range 3 {
				if it := items[i]; it == nil || it.Index != i || it.Status != runstore.StepCompleted || it.Output != "hi" {
					t.Fatalf("item %d: %+v", i, it)
				}
			}
			arts, err := s.Artifacts(bg, tt.id, "summarise")
			want := []string{"prompt-0.json", "prompt-1.json", "prompt-2.json", "response-0.txt", "response-1.txt", "response-2.txt"}
			if err != nil || !slices.Equal(arts, want) {
				t.Fatalf("artifacts %q, %v; want %q", arts, err, want)
			}
			if data, err := s.ReadArtifact(bg, tt.id, "summarise", "response-1.txt"); err != nil || strings.TrimSpace(string(data)) != "hi" {
				t.Fatalf("artifact %q, %v", data, err)
			}

			evs, warns, err := s.Events(bg, tt.id, 0, 0)
			if err != nil || len(warns) != 0 || len(evs) != tt.events {
				t.Fatalf("%d events, warnings %q, %v; want %d", len(evs), warns, err, tt.events)
			}
			for i, e := range evs {
				if e.Seq != int64(i+1) || e.RunID != tt.id || e.Time.IsZero() {
					t.Fatalf("event %d: seq %d, run %q, time %v", i+1, e.Seq, e.RunID, e.Time)
				}
			}
			if evs[0].Type != runstore.EventRunStarted || evs[0].Run == nil || evs[0].Run.ID != tt.id || evs[len(evs)-1].Type != tt.lastType {
				t.Fatalf("events from %s to %s", evs[0].Type, evs[len(evs)-1].Type)
			}
			if rest, _, err := s.Events(bg, tt.id, int64(tt.events-2), 0); err != nil || seqsOf(rest) != seqsOf(evs[tt.events-2:]) {
				t.Fatalf("the last two events: %q, %v", seqsOf(rest), err)
			}

			logs, err := s.Logs(bg, tt.id, 0)
			if err != nil || len(logs) != tt.logs {
				t.Fatalf("%d log lines, %v; want %d", len(logs), err, tt.logs)
			}
			for i, l := range logs {
				if l.Seq != int64(i+1) || l.Time.IsZero() || l.Step == "" {
					t.Fatalf("log line %d: %+v", i+1, l)
				}
			}
			if l := logs[0]; l.Step != "summarise" || l.Item == nil {
				t.Fatalf("first log line %+v; want one of a summarise item", l)
			}
			if l := logs[len(logs)-1]; l.Step+" "+l.Text != tt.lastLog {
				t.Fatalf("last log line %q, want %q", l.Step+" "+l.Text, tt.lastLog)
			}

			if got := readHolder(filepath.Join(s.RunDir(tt.id), "lock")); got != tt.holder {
				t.Fatalf("its lock reads %+v, want %+v", got, tt.holder)
			}
			if h, err := s.Holder(bg, tt.id); err != nil || h != nil {
				t.Fatalf("Holder = %+v, %v; nobody holds it", h, err)
			}
			l, err := s.Acquire(bg, tt.id, runstore.Holder{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Release(bg, l)
			if asked, err := s.CancelRequested(bg, l); err != nil || asked {
				t.Fatalf("cancel requested: %v, %v", asked, err)
			}
		})
	}
}

// An old run left interrupted is taken over and continued: its lock
// (holding a dead pid) is acquired, and its journal and log, numbered by
// their lines, number on from their last line.
func TestOldRunContinues(t *testing.T) {
	t.Parallel()
	home := oldRuns(t)
	s := New(home)
	l, err := s.Acquire(bg, oldInterrupted, runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(bg, l)
	if h, err := New(home).Holder(bg, oldInterrupted); err != nil || h == nil || h.PID != os.Getpid() {
		t.Fatalf("Holder after the takeover = %+v, %v", h, err)
	}
	if err := s.AppendEvents(bg, oldInterrupted,
		runstore.Event{Type: runstore.EventStepStarted, RunID: oldInterrupted, Step: "join", Attempt: 2},
		runstore.Event{Type: runstore.EventStepFinished, RunID: oldInterrupted, Step: "join"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(bg, oldInterrupted, runstore.LogLine{Step: "join", Text: "- hi"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStep(bg, oldInterrupted, &runstore.StepResult{ID: "join", Status: runstore.StepCompleted, Output: "- hi"}); err != nil {
		t.Fatal(err)
	}
	// The new lines hold the numbers they are read under.
	data, err := os.ReadFile(filepath.Join(s.RunDir(oldInterrupted), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, ln := range lines[7:] {
		var e runstore.Event
		if err := json.Unmarshal([]byte(ln), &e); err != nil || e.Seq != int64(8+i) {
			t.Fatalf("line %d holds seq %d (%v): %s", 8+i, e.Seq, err, ln)
		}
	}
	for name, st := range map[string]*Store{"the writer": s, "a new reader": New(home)} {
		evs, warns, err := st.Events(bg, oldInterrupted, 0, 0)
		if err != nil || len(warns) != 0 || seqsOf(evs) != "1,2,3,4,5,6,7,8,9" || stepsOf(evs[7:]) != "join,join" {
			t.Fatalf("%s: events %q of %q, warnings %q, %v", name, seqsOf(evs), stepsOf(evs), warns, err)
		}
		logs, err := st.Logs(bg, oldInterrupted, 3)
		if err != nil || len(logs) != 1 || logs[0].Seq != 4 || logs[0].Step != "join" {
			t.Fatalf("%s: the log line after the old ones: %+v, %v", name, logs, err)
		}
		if steps, err := st.LoadSteps(bg, oldInterrupted); err != nil || len(steps) != 2 {
			t.Fatalf("%s: steps %v, %v", name, steps, err)
		}
	}
}
