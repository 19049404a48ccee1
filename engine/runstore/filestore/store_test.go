package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

var bg = context.Background()

// mkRun records a completed one-step run id started at started, and
// releases its lease.
func mkRun(t *testing.T, s *Store, id string, started time.Time) *runstore.RunMeta {
	t.Helper()
	m := &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "f", Status: runstore.RunCompleted, StartedAt: started, Inputs: map[string]any{"a": 1.0}},
		Plan: []runstore.PlanStep{{ID: "a", Kind: "checkpoint"}}}
	l, err := s.Create(bg, m, []byte("name: f\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(bg, l); err != nil {
		t.Fatal(err)
	}
	return m
}

// stepsOf is the Step of each event, and seqsOf the Seq.
func stepsOf(evs []runstore.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Step)
	}
	return strings.Join(out, ",")
}

func seqsOf(evs []runstore.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, strconv.FormatInt(e.Seq, 10))
	}
	return strings.Join(out, ",")
}

// Every file and directory of a run is private to its user, and no temp
// file is left behind by the atomic writes.
func TestRoundTripAndPermissions(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	id, err := s.NewID(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "kr-") || len(id) != 11 || strings.ToLower(id) != id {
		t.Fatalf("id %q is not kr- + 8 lowercase characters", id)
	}
	mkRun(t, s, id, time.Now())
	if err := s.SaveStep(bg, id, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: "hi", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveItem(bg, id, "a", &runstore.ItemResult{Index: 2, Status: runstore.StepCompleted, Output: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteArtifact(bg, id, "a", "response.txt", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(bg, id, runstore.Event{Type: runstore.EventRunStarted, RunID: id}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(bg, id, runstore.LogLine{Time: time.Now(), Step: "a", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestCancel(bg, id); err != nil {
		t.Fatal(err)
	}
	m, err := s.LoadMeta(bg, id)
	if err != nil || m.Flow != "f" || m.Inputs["a"] != 1.0 || len(m.Plan) != 1 || m.Plan[0].ID != "a" {
		t.Fatalf("meta %+v, %v", m, err)
	}
	src, err := s.FlowSource(bg, id)
	if err != nil || string(src) != "name: f\n" {
		t.Fatalf("flow source %q, %v", src, err)
	}
	r, err := s.LoadStep(bg, id, "a")
	if err != nil || r == nil || r.Output != "hi" {
		t.Fatalf("step %+v, %v", r, err)
	}
	if r, err := s.LoadStep(bg, id, "nope"); r != nil || err != nil {
		t.Fatalf("missing step gave %+v, %v", r, err)
	}
	items, err := s.LoadItems(bg, id, "a")
	if err != nil || len(items) != 1 || items[2].Output != "x" {
		t.Fatalf("items %+v, %v", items, err)
	}
	if data, err := s.ReadArtifact(bg, id, "a", "response.txt"); err != nil || string(data) != "hi" {
		t.Fatalf("artifact %q, %v", data, err)
	}
	var seen []string
	err = filepath.Walk(s.Root(), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Root(), p)
		seen = append(seen, rel)
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		if strings.Contains(fi.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of file was checked.
	for _, f := range []string{"run.json", "plan.json", "flow.yaml", "lock", "journal.jsonl", "log.txt", "cancel", "steps/a/result.json", "steps/a/items/2.json", "steps/a/response.txt"} {
		if !strings.Contains(strings.Join(seen, " ")+" ", filepath.Join(id, f)+" ") {
			t.Errorf("%s was not written: %q", f, seen)
		}
	}
}

// A damaged record is reported as a DamagedError naming its file and what
// to do about it; it never hides the other runs, nor the other records of
// its run.
func TestDamagedRecords(t *testing.T) {
	t.Parallel()
	const id = "kr-bad00000"
	for _, tt := range []struct {
		name   string
		file   string // under the run's directory; "" removes it
		data   string
		load   func(s *Store) error
		part   runstore.Part
		step   string
		item   int
		prob   string
		fixHas string
	}{
		{
			name: "run.json cut short", file: "run.json", data: `{"id": "kr-bad`,
			load: func(s *Store) error { _, err := s.LoadMeta(bg, id); return err },
			part: runstore.PartMeta, prob: "is damaged (unexpected end of JSON input)",
			fixHas: "run kr-bad00000 cannot be used as it is: repair the file, or set the run aside by moving",
		},
		{
			name: "run.json of another run", file: "run.json", data: `{"id": "kr-other000", "status": "completed"}`,
			load: func(s *Store) error { _, err := s.LoadSummary(bg, id); return err },
			part: runstore.PartMeta, prob: `is damaged (it holds run "kr-other000", not kr-bad00000)`,
			fixHas: "repair the file",
		},
		{
			name: "plan.json missing", file: "plan.json",
			load: func(s *Store) error { _, err := s.LoadMeta(bg, id); return err },
			part: runstore.PartPlan, prob: "is missing", fixHas: "repair the file",
		},
		{
			name: "flow.yaml empty", file: "flow.yaml", data: "\n",
			load: func(s *Store) error { _, err := s.FlowSource(bg, id); return err },
			part: runstore.PartFlow, prob: "is empty", fixHas: "repair the file",
		},
		{
			name: "step record cut short", file: "steps/b/result.json", data: `{"id":`,
			load: func(s *Store) error { _, err := s.LoadStep(bg, id, "b"); return err },
			part: runstore.PartStep, step: "b", prob: "is damaged (unexpected end of JSON input)",
			fixHas: "move it away and step b counts as never run",
		},
		{
			name: "item record cut short", file: "steps/b/items/1.json", data: `{"index":`,
			load: func(s *Store) error { _, err := s.LoadItems(bg, id, "b"); return err },
			part: runstore.PartItem, step: "b", item: 1, prob: "is damaged (unexpected end of JSON input)",
			fixHas: "move it away and item 1 of step b counts as never run",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(t.TempDir())
			good := mkRun(t, s, "kr-good0000", time.Now())
			bad := mkRun(t, s, id, time.Now().Add(time.Second))
			for _, m := range []*runstore.RunMeta{good, bad} {
				for _, st := range []string{"a", "b"} {
					if err := s.SaveStep(bg, m.ID, &runstore.StepResult{ID: st, Status: runstore.StepCompleted}); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.SaveItem(bg, m.ID, "b", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(s.RunDir(id), tt.file)
			if tt.data == "" {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			err := tt.load(s)
			var de *runstore.DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("got %v; want a DamagedError", err)
			}
			want := runstore.DamagedError{RunID: id, Part: tt.part, Step: tt.step, Item: tt.item, Where: p, Home: s.RunDir(id), Problem: tt.prob}
			if *de != want {
				t.Fatalf("got %+v\nwant %+v", *de, want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, p+" "+tt.prob+"; ") || !strings.Contains(msg, tt.fixHas) {
				t.Fatalf("error %q; want one naming %s and saying %q", msg, p, tt.fixHas)
			}
			// The other run reads whole.
			if _, err := s.LoadMeta(bg, good.ID); err != nil {
				t.Fatal(err)
			}
			if steps, err := s.LoadSteps(bg, good.ID); err != nil || len(steps) != 2 {
				t.Fatalf("the good run's steps: %v, %v", steps, err)
			}
		})
	}
}

// A run whose run.json is damaged is named beside the runs a query lists,
// and "last" skips it; a damaged step record is reported while the other
// records of the run still load; a temp file left by a crash in the middle
// of a write is not a record.
func TestDamagedRunsAreListedAndDamagedStepsReported(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	good := mkRun(t, s, "kr-good0000", time.Now())
	bad := mkRun(t, s, "kr-bad00000", time.Now().Add(time.Second))
	meta := filepath.Join(s.RunDir(bad.ID), "run.json")
	if err := os.WriteFile(meta, []byte(`{"id": "kr-bad`), 0o600); err != nil {
		t.Fatal(err)
	}
	page, err := s.Query(bg, runstore.Query{})
	var damaged runstore.DamagedRuns
	if !errors.As(err, &damaged) || len(damaged) != 1 || damaged[0].RunID != bad.ID || !strings.HasPrefix(damaged[0].Error(), meta+" is damaged") {
		t.Fatalf("query with a damaged run: error %v; want the damaged run named", err)
	}
	if len(page.Runs) != 1 || page.Runs[0].ID != good.ID {
		t.Fatalf("query with a damaged run: %v", page.Runs)
	}
	if id, err := runstore.Resolve(bg, s, "last"); err != nil || id != good.ID {
		t.Fatalf("last with a damaged run: %q, %v", id, err)
	}

	for _, st := range []string{"a", "b", "c"} {
		if err := s.SaveStep(bg, good.ID, &runstore.StepResult{ID: st, Status: runstore.StepCompleted}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveItem(bg, good.ID, st, &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}); err != nil {
			t.Fatal(err)
		}
		// What a crash in the middle of an atomic write leaves.
		for _, tmp := range []string{".result.json.tmp-123", "items/.0.json.tmp-123", "items/.1.json.tmp-123"} {
			if err := os.WriteFile(filepath.Join(s.StepDir(good.ID, st), tmp), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(s.StepDir(good.ID, "b"), "result.json")
	if err := os.WriteFile(p, []byte("{\"id\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps, err := s.LoadSteps(bg, good.ID)
	var de *runstore.DamagedError
	if !errors.As(err, &de) || de.Where != p || de.Step != "b" {
		t.Fatalf("damaged step record gave %v; want a DamagedError naming %s", err, p)
	}
	if len(steps) != 2 || steps["a"] == nil || steps["c"] == nil || steps["c"].Status != runstore.StepCompleted {
		t.Fatalf("the good records were lost: %+v", steps)
	}
	for _, st := range []string{"a", "c"} {
		if items, err := s.LoadItems(bg, good.ID, st); err != nil || len(items) != 1 {
			t.Fatalf("items of %s beside temp files: %v, %v", st, items, err)
		}
	}
}

// A crash or a full disk in the middle of a journal line leaves it torn:
// it is not read until it is whole, and the next process to write repairs
// it, as a write-ahead log does, so it is not read as damage forever. The
// events keep their numbers through the repair, for every reader and
// writer, and each line holds the number it is read under.
func TestJournalTornLine(t *testing.T) {
	t.Parallel()
	whole, _ := json.Marshal(runstore.Event{Type: runstore.EventStepFinished, Step: "w"})
	for _, tt := range []struct {
		name, torn string
		before     string // seqs of the events read before the repair
		steps      string // steps of the events after the repair
		seqs       string // and their seqs
		warnLine   int    // a line reported unreadable after the repair
	}{
		{name: "cut in the middle", torn: `{"type":"step_sta`, before: "1", steps: ",x,y", seqs: "1,2,3"},
		// A whole event that lacks only its newline is read already.
		{name: "cut before its newline", torn: string(whole), before: "1,2", steps: ",w,x,y", seqs: "1,2,3,4"},
		{name: "cut right after the previous line", before: "1", steps: ",x,y", seqs: "1,2,3"},
		// A torn line that something ended with a newline is a whole
		// line: reported, never repaired, and numbered, so the lines
		// after it keep their numbers.
		{name: "cut, then ended", torn: "{\"type\":\"step_sta\n", before: "1", steps: ",x,y", seqs: "1,3,4", warnLine: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			s := New(home)
			m := mkRun(t, s, "kr-journal0", time.Now())
			if err := s.AppendEvents(bg, m.ID, runstore.Event{Type: runstore.EventRunStarted, RunID: m.ID}); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(s.RunDir(m.ID), "journal.jsonl")
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tt.torn); err != nil {
				t.Fatal(err)
			}
			f.Close()
			evs, warns, err := s.Events(bg, m.ID, 0, 0)
			if err != nil || seqsOf(evs) != tt.before {
				t.Fatalf("before the repair: events %q, %v; want %q", seqsOf(evs), err, tt.before)
			}
			wantWarns := func(when string, warns []string) {
				t.Helper()
				if tt.warnLine == 0 {
					if len(warns) != 0 {
						t.Fatalf("%s: warnings %q", when, warns)
					}
					return
				}
				if len(warns) != 1 || !strings.HasPrefix(warns[0], p+": skipped unreadable journal line "+strconv.Itoa(tt.warnLine)+" ") {
					t.Fatalf("%s: warnings %q; want one naming %s and line %d", when, warns, p, tt.warnLine)
				}
			}
			wantWarns("before the repair", warns)

			s2 := New(home) // a new process repairs it
			if err := s2.AppendEvents(bg, m.ID, runstore.Event{Type: runstore.EventStepStarted, RunID: m.ID, Step: "x"}); err != nil {
				t.Fatal(err)
			}
			// The first process, which read and wrote before the repair,
			// numbers on from it.
			if err := s.AppendEvents(bg, m.ID, runstore.Event{Type: runstore.EventStepStarted, RunID: m.ID, Step: "y"}); err != nil {
				t.Fatal(err)
			}
			for name, st := range map[string]*Store{"the repairer": s2, "a reader from before the repair": s, "a new reader": New(home)} {
				evs, warns, err := st.Events(bg, m.ID, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				wantWarns(name, warns)
				if stepsOf(evs) != tt.steps || seqsOf(evs) != tt.seqs {
					t.Fatalf("%s: events of steps %q seqs %q, want %q %q", name, stepsOf(evs), seqsOf(evs), tt.steps, tt.seqs)
				}
				// What follows event 1 is the same events again.
				rest, _, err := st.Events(bg, m.ID, 1, 0)
				if err != nil || seqsOf(rest) != seqsOf(evs[1:]) {
					t.Fatalf("%s: events after 1: %q, %v; want %q", name, seqsOf(rest), err, seqsOf(evs[1:]))
				}
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(data, []byte("\n")) || bytes.Contains(data, []byte("\n\n")) {
				t.Fatalf("journal not whole lines:\n%s", data)
			}
			// Each line written since holds the number it is read under.
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			for i, ln := range lines {
				var e runstore.Event
				if json.Unmarshal([]byte(ln), &e) == nil && e.Step != "w" && e.Seq != int64(i+1) {
					t.Errorf("line %d holds seq %d: %s", i+1, e.Seq, ln)
				}
			}
		})
	}
}

// Resolve on a file store: ids, prefixes with or without kr-, last, and
// prefixes that match too much or nothing.
func TestResolve(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	now := time.Now()
	mkRun(t, s, "kr-abc11111", now)
	mkRun(t, s, "kr-abc22222", now.Add(2*time.Second))
	mkRun(t, s, "kr-xyz00000", now.Add(time.Second))
	tests := []struct {
		ref, want, errHas   string
		notFound, ambiguous bool
		noRef               bool
	}{
		{ref: "kr-abc11111", want: "kr-abc11111"},
		{ref: "kr-abc1", want: "kr-abc11111"},
		{ref: "abc2", want: "kr-abc22222"},
		{ref: "x", want: "kr-xyz00000"},
		{ref: " x ", want: "kr-xyz00000"},
		{ref: "last", want: "kr-abc22222"},
		{ref: "abc", errHas: `"abc" matches 2 runs: kr-abc11111, kr-abc22222; give more of the id`, ambiguous: true},
		{ref: "kr-", errHas: "matches 3 runs", ambiguous: true},
		{ref: "nope", errHas: `no run matches "nope"`, notFound: true},
		{ref: "kr-abc11111x", errHas: "no run matches", notFound: true},
		{ref: "", errHas: "no run given", noRef: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			got, err := runstore.Resolve(bg, s, tt.ref)
			if tt.errHas == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Resolve(%q) error %v; want one containing %q", tt.ref, err, tt.errHas)
			}
			var ae *runstore.AmbiguousError
			if errors.As(err, &ae) != tt.ambiguous || errors.Is(err, runstore.ErrNotFound) != tt.notFound || errors.Is(err, runstore.ErrNoRef) != tt.noRef {
				t.Fatalf("Resolve(%q) error %v: ambiguous=%v notFound=%v noRef=%v", tt.ref, err,
					errors.As(err, &ae), errors.Is(err, runstore.ErrNotFound), errors.Is(err, runstore.ErrNoRef))
			}
		})
	}
	if _, err := runstore.Resolve(bg, New(t.TempDir()), "last"); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("last with no runs: %v", err)
	}
}

// A run too damaged to read still resolves, by its id or a prefix, so that
// its damage can be reported; "last" is the newest run that reads.
func TestResolveDamagedRun(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	now := time.Now()
	mkRun(t, s, "kr-good0000", now)
	mkRun(t, s, "kr-bad00000", now.Add(time.Second))
	if err := os.WriteFile(filepath.Join(s.RunDir("kr-bad00000"), "run.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"kr-bad00000": "kr-bad00000", "bad": "kr-bad00000", "kr-b": "kr-bad00000", "last": "kr-good0000"} {
		if got, err := runstore.Resolve(bg, s, ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	// Its run.json gone altogether, it still does.
	if err := os.Remove(filepath.Join(s.RunDir("kr-bad00000"), "run.json")); err != nil {
		t.Fatal(err)
	}
	if got, err := runstore.Resolve(bg, s, "kr-bad00000"); err != nil || got != "kr-bad00000" {
		t.Errorf("Resolve of a run without run.json = %q, %v", got, err)
	}
}

// The lease of a file store is the run's lock file: taken once, told to
// others with the holder's pid, and free again when released.
func TestLease(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	m := mkRun(t, s, "kr-lock0000", time.Now())
	l, err := s.Acquire(bg, m.ID, runstore.Holder{Host: "here"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if l.RunID != m.ID || l.Holder.PID != os.Getpid() || l.Token == "" || !l.Expires.IsZero() {
		t.Fatalf("lease %+v; want ours, never expiring by time", l)
	}
	if h, err := s.Holder(bg, m.ID); err != nil || h == nil || *h != (runstore.Holder{Host: "here", PID: os.Getpid()}) {
		t.Fatalf("Holder = %+v, %v; want us", h, err)
	}
	_, err = s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	var he *runstore.HeldError
	if !errors.As(err, &he) || he.RunID != m.ID || he.Holder.PID != os.Getpid() ||
		!strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) || runstore.RemedyOf(err) == nil || runstore.RemedyOf(err).Do != runstore.RemedyWaitOrCancel {
		t.Fatalf("second acquire gave %v", err)
	}
	if err := s.Renew(bg, l); err != nil {
		t.Fatalf("Renew of a held lease: %v", err)
	}
	if err := s.Release(bg, l); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(bg, l); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if h, err := s.Holder(bg, m.ID); err != nil || h != nil {
		t.Fatalf("still held after release: %+v, %v", h, err)
	}
	if err := s.Renew(bg, l); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Renew of a released lease = %v, want ErrLeaseLost", err)
	}
	l2, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatalf("acquire again: %v", err)
	}
	_ = s.Release(bg, l2)
	if _, err := s.Acquire(bg, "kr-nope0000", runstore.Holder{}, 0); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("acquire of a missing run = %v, want ErrNotFound", err)
	}
}

// A lease held by another process is refused in its name; when that process
// is SIGKILLed the kernel frees its lock and the lease is taken over.
func TestStaleLeaseTakeover(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s := New(home)
	m := mkRun(t, s, "kr-stale000", time.Now())
	child := startChild(t, "lease", home, m.ID)
	_, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	var he *runstore.HeldError
	if !errors.As(err, &he) || he.Holder.PID != child.Process.Pid {
		t.Fatalf("acquire while the child holds it: %v (child pid %d)", err, child.Process.Pid)
	}
	if h, err := s.Holder(bg, m.ID); err != nil || h == nil || *h != (runstore.Holder{Host: "child", PID: child.Process.Pid}) {
		t.Fatalf("Holder while the child holds it: %+v, %v", h, err)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if h, err := s.Holder(bg, m.ID); err != nil || h != nil {
		t.Fatalf("Holder after the child died: %+v, %v", h, err)
	}
	l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatalf("acquire after the holder died: %v", err)
	}
	_ = s.Release(bg, l)
}

// A lock file written by kitaru before leases holds a bare pid: a run an
// old kitaru is running is refused in that process's name.
func TestOldLockOfALiveHolder(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s := New(home)
	m := mkRun(t, s, "kr-oldlock0", time.Now())
	child := startChild(t, "oldlock", home, m.ID)
	_, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	var he *runstore.HeldError
	if !errors.As(err, &he) || he.Holder != (runstore.Holder{PID: child.Process.Pid}) {
		t.Fatalf("acquire while an old kitaru holds it: %v (its pid %d)", err, child.Process.Pid)
	}
	if h, err := s.Holder(bg, m.ID); err != nil || h == nil || h.PID != child.Process.Pid {
		t.Fatalf("Holder while an old kitaru holds it: %+v, %v", h, err)
	}
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	gone := exec.Command(os.Args[0], "-test.run=^$")
	gone.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0") // the race detector's exit waits a second
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	return gone.Process.Pid
}

// A holder killed while forking a step's command leaves its lock shared
// with the half-made child until that child execs: the lock of a dead
// holder is waited for, so a resume right after kill -9 is not refused in
// the dead process's name. The holder is read as written now or, as
// before leases, as a bare pid.
func TestLockOfADeadHolderSettles(t *testing.T) {
	t.Parallel()
	dead := deadPID(t)
	for _, format := range []struct {
		name, data string
	}{
		{"holder", `{"host":"gone","pid":` + strconv.Itoa(dead) + "}\n"},
		{"bare pid", strconv.Itoa(dead) + "\n"},
	} {
		for _, tc := range []struct {
			name string
			try  func(s *Store, id string) error
		}{
			{"holder", func(s *Store, id string) error {
				if h, err := s.Holder(bg, id); err != nil || h != nil {
					t.Errorf("Holder = %+v, %v while only the dead process's child had it", h, err)
				}
				return nil
			}},
			{"acquire", func(s *Store, id string) error {
				l, err := s.Acquire(bg, id, runstore.Holder{}, 0)
				if err != nil {
					return err
				}
				return s.Release(bg, l)
			}},
		} {
			t.Run(format.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := New(t.TempDir())
				m := mkRun(t, s, "kr-dead0000", time.Now())
				// Another descriptor of the lock, holding it in the name
				// of the dead process, as the half-made child does.
				lf, err := os.OpenFile(filepath.Join(s.RunDir(m.ID), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				defer lf.Close()
				if err := tryLock(lf); err != nil {
					t.Fatal(err)
				}
				if _, err := lf.WriteAt([]byte(format.data), 0); err != nil {
					t.Fatal(err)
				}
				released := make(chan struct{})
				go func() {
					defer close(released)
					time.Sleep(50 * time.Millisecond) // the child execs
					unlock(lf)
				}()
				err = tc.try(s, m.ID)
				<-released
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestLogsAndCancel(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	m := mkRun(t, s, "kr-logs0000", time.Now())
	two := 2
	at := time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC)
	if err := s.AppendLog(bg, m.ID, runstore.LogLine{Time: at, Step: "a", Text: "hello world"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(bg, m.ID, runstore.LogLine{Time: at, Step: "b", Item: &two, Text: "x\ny"}, runstore.LogLine{Time: at, Text: "run"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Logs(bg, m.ID, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("logs %+v, %v", got, err)
	}
	for i, want := range []runstore.LogLine{
		{Seq: 1, Time: at, Step: "a", Text: "hello world"},
		{Seq: 2, Time: at, Step: "b", Item: &two, Text: "x y"}, // one line per line
		{Seq: 3, Time: at, Text: "run"},
	} {
		g := got[i]
		if g.Seq != want.Seq || !g.Time.Equal(want.Time) || g.Step != want.Step || g.Text != want.Text || (g.Item == nil) != (want.Item == nil) || (g.Item != nil && *g.Item != *want.Item) {
			t.Errorf("line %d: %+v, want %+v", i+1, g, want)
		}
	}
	if rest, err := s.Logs(bg, m.ID, 2); err != nil || len(rest) != 1 || rest[0].Seq != 3 || rest[0].Text != "run" {
		t.Fatalf("logs after 2: %+v, %v", rest, err)
	}
	l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(bg, l)
	if asked, err := s.CancelRequested(bg, l); err != nil || asked {
		t.Fatalf("cancel requested before asking: %v, %v", asked, err)
	}
	if err := s.RequestCancel(bg, m.ID); err != nil {
		t.Fatal(err)
	}
	if asked, err := s.CancelRequested(bg, l); err != nil || !asked {
		t.Fatalf("cancel requested after asking: %v, %v", asked, err)
	}
	if err := s.ClearCancel(bg, m.ID); err != nil {
		t.Fatal(err)
	}
	if asked, err := s.CancelRequested(bg, l); err != nil || asked {
		t.Fatalf("cancel requested after clearing: %v, %v", asked, err)
	}
	if err := s.ClearCancel(bg, m.ID); err != nil {
		t.Fatalf("clearing twice: %v", err)
	}
}

// A record whose output is big is written compact, encoded straight into
// its file (indenting would copy it again), and reads back the same; a
// small one stays indented for people.
func TestBigRecordsCompact(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	meta := &runstore.RunMeta{Run: runstore.Run{ID: "kr-bigrecrd", Flow: "f", Status: runstore.RunRunning}, Plan: []runstore.PlanStep{{ID: "big"}, {ID: "small"}}}
	l, err := s.Create(bg, meta, []byte("name: f\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(bg, l)
	big := strings.Repeat("x", indentMax+1)
	for _, r := range []*runstore.StepResult{{ID: "big", Status: runstore.StepCompleted, Output: big}, {ID: "small", Status: runstore.StepCompleted, Output: "hi"}} {
		if err := s.SaveStep(bg, meta.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveItem(bg, meta.ID, "big", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted, Output: big}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file    string
		indents bool
	}{{"steps/big/result.json", false}, {"steps/big/items/0.json", false}, {"steps/small/result.json", true}} {
		data, err := os.ReadFile(filepath.Join(s.RunDir(meta.ID), tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "\n") > 1; got != tt.indents {
			t.Errorf("%s: indented %v, want %v", tt.file, got, tt.indents)
		}
	}
	r, err := s.LoadStep(bg, meta.ID, "big")
	if err != nil || r.Output != big {
		t.Errorf("the big record does not read back: %v", err)
	}
	items, err := s.LoadItems(bg, meta.ID, "big")
	if err != nil || items[0].Output != big {
		t.Errorf("the big item does not read back: %v", err)
	}
}

// A directory being built whose creator still holds its lock is never
// swept, however old it looks.
func TestCreatingDirectoryOfALiveCreatorStays(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	mkRun(t, s, "kr-aaaaaaa1", time.Now())
	dir := filepath.Join(s.Root(), creatingPrefix+"kr-bbbbbbb2")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * creatingGrace)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if page, err := s.Query(bg, runstore.Query{}); err != nil || len(page.Runs) != 1 {
		t.Fatalf("query: %v, %v", page.Runs, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a directory still being built was swept: %v", err)
	}
}

// A replay's reused steps are written once, in plan.json (the part of its
// meta that never changes), not again in run.json at every save; a
// run.json of an older kitaru that holds them too still reads.
func TestReusedStepsLiveInThePlan(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	src := "kr-source01"
	meta := &runstore.RunMeta{Run: runstore.Run{ID: "kr-replay01", Flow: "f", Status: runstore.RunRunning, ReplayOf: &src},
		Plan:   []runstore.PlanStep{{ID: "a", Kind: "checkpoint"}, {ID: "b", Kind: "llm", Foreach: true}},
		Reused: []runstore.ReusedGroup{{Run: src, Status: runstore.StepCompleted, Steps: []string{"a"}}}}
	l, err := s.Create(bg, meta, []byte("name: f\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(bg, l)
	meta.Status = runstore.RunCompleted
	meta.Index = runstore.Index{"b": {Status: runstore.StepCompleted, Fingerprint: "fb"}}
	if err := s.SaveMeta(bg, meta); err != nil {
		t.Fatal(err)
	}
	dir := s.RunDir(meta.ID)
	run, _ := os.ReadFile(filepath.Join(dir, "run.json"))
	plan, _ := os.ReadFile(filepath.Join(dir, "plan.json"))
	if strings.Contains(string(run), `"reused"`) || !strings.Contains(string(plan), `"reused"`) {
		t.Fatalf("run.json %s\nplan.json %s\nwant the reused steps in plan.json only", run, plan)
	}
	if !strings.Contains(string(plan), `"b llm foreach"`) || !strings.Contains(string(run), `"b": "completed fb"`) {
		t.Fatalf("run.json %s\nplan.json %s\nwant the compact plan and index entries", run, plan)
	}
	got, err := s.LoadMeta(bg, meta.ID)
	if err != nil || !reflect.DeepEqual(got.Reused, meta.Reused) || !reflect.DeepEqual(got.Plan, meta.Plan) || !reflect.DeepEqual(got.Index, meta.Index) {
		t.Fatalf("LoadMeta = %+v, %v", got, err)
	}
	// An older kitaru wrote them in both files.
	old := strings.Replace(string(run), `"index"`, `"reused": [{"run": "kr-elsewhere", "status": "failed", "steps": ["a"]}], "index"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum, err := s.LoadSummary(bg, meta.ID); err != nil || sum.Reused != nil {
		t.Fatalf("LoadSummary = %+v, %v; want no reused steps", sum, err)
	}
	if got, err := s.LoadMeta(bg, meta.ID); err != nil || !reflect.DeepEqual(got.Reused, meta.Reused) {
		t.Fatalf("LoadMeta of an older run.json = %+v, %v", got, err)
	}
}

// While this process holds a run's lease its journal and log stay open
// between appends; lines another process appends meanwhile are numbered
// on from, releasing the lease closes (and syncs) them, and appends after
// it open the files again.
func TestAppendsWhileLeased(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s, other := New(home), New(home)
	m := mkRun(t, s, "kr-append01", time.Now())
	l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(st *Store, step string) {
		t.Helper()
		if err := st.AppendEvents(bg, m.ID, runstore.Event{Type: runstore.EventStepStarted, RunID: m.ID, Step: step}); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendLog(bg, m.ID, runstore.LogLine{Time: time.Now(), Step: step, Text: "line of " + step}); err != nil {
			t.Fatal(err)
		}
	}
	ev(s, "a")
	ev(s, "b")
	s.mu.Lock()
	open := len(s.appenders)
	s.mu.Unlock()
	if open != 2 {
		t.Fatalf("%d files kept open while leased, want the journal and the log", open)
	}
	ev(other, "c") // another process, which holds no lease
	ev(s, "d")
	if err := s.Release(bg, l); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	open = len(s.appenders)
	s.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d files still open after the release", open)
	}
	ev(s, "e")
	evs, warns, err := s.Events(bg, m.ID, 0, 0)
	if err != nil || len(warns) > 0 || stepsOf(evs) != "a,b,c,d,e" || seqsOf(evs) != "1,2,3,4,5" {
		t.Fatalf("events %q seqs %q, %v %v", stepsOf(evs), seqsOf(evs), warns, err)
	}
	lines, err := s.Logs(bg, m.ID, 0)
	var got []string
	for _, ln := range lines {
		got = append(got, ln.Step+"="+strconv.FormatInt(ln.Seq, 10))
	}
	if err != nil || strings.Join(got, " ") != "a=1 b=2 c=3 d=4 e=5" {
		t.Fatalf("log lines %q, %v", got, err)
	}
}

// An artifact is synced as it is written; the directory of a step's
// artifacts is synced once, as the run's lease is released, however many
// artifacts it holds.
func TestArtifactDirectorySyncedOnRelease(t *testing.T) {
	t.Parallel()
	s := New(t.TempDir())
	m := mkRun(t, s, "kr-artsync1", time.Now())
	l, err := s.Acquire(bg, m.ID, runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.WriteArtifact(bg, m.ID, "a", "prompt-"+strconv.Itoa(i)+".json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	dirs := s.unsynced[m.ID]
	s.mu.Unlock()
	if len(dirs) != 1 || !dirs[s.StepDir(m.ID, "a")] {
		t.Fatalf("directories left to sync: %v, want the step's", dirs)
	}
	if err := s.Release(bg, l); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	left := len(s.unsynced)
	s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d runs still have directories to sync after the release", left)
	}
	if names, err := s.Artifacts(bg, m.ID, "a"); err != nil || len(names) != 3 {
		t.Fatalf("artifacts %v, %v", names, err)
	}
}
