//go:build porting

package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newTestStore(t *testing.T) *FileStore {
	t.Helper()
	return NewFileStore(t.TempDir())
}

func mkRun(t *testing.T, s *FileStore, id string, started time.Time) *RunMeta {
	t.Helper()
	m := &RunMeta{Run: Run{ID: id, Flow: "f", Status: RunCompleted, StartedAt: started, Inputs: map[string]any{"a": 1.0}},
		Plan: []PlanStep{{ID: "a", Kind: "checkpoint"}}}
	unlock, err := s.Create(m, []byte("name: f\n"))
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	return m
}

func TestFileStoreRoundTripAndPermissions(t *testing.T) {
	s := newTestStore(t)
	id, err := s.NewID()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "kr-") || len(id) != 11 || strings.ToLower(id) != id {
		t.Fatalf("id %q is not kr- + 8 lowercase characters", id)
	}
	mkRun(t, s, id, time.Now())
	if err := s.SaveStep(id, &StepResult{ID: "a", Status: StepCompleted, Output: "hi", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveItem(id, "a", &ItemResult{Index: 2, Status: StepCompleted, Output: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteArtifact(id, "a", "response.txt", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := s.LoadMeta(id)
	if err != nil || m.Flow != "f" || m.Inputs["a"] != 1.0 {
		t.Fatalf("meta %+v, %v", m, err)
	}
	src, err := s.FlowSource(id)
	if err != nil || string(src) != "name: f\n" {
		t.Fatalf("flow source %q, %v", src, err)
	}
	r, err := s.LoadStep(id, "a")
	if err != nil || r == nil || r.Output != "hi" {
		t.Fatalf("step %+v, %v", r, err)
	}
	if r, err := s.LoadStep(id, "nope"); r != nil || err != nil {
		t.Fatalf("missing step gave %+v, %v", r, err)
	}
	items, err := s.LoadItems(id, "a")
	if err != nil || len(items) != 1 || items[2].Output != "x" {
		t.Fatalf("items %+v, %v", items, err)
	}
	err = filepath.Walk(s.Root(), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if p != s.Root() && fi.Mode().Perm() != want {
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
}

func TestFileStoreDamagedRecords(t *testing.T) {
	s := newTestStore(t)
	good := mkRun(t, s, "kr-good0000", time.Now())
	bad := mkRun(t, s, "kr-bad00000", time.Now().Add(time.Second))
	_ = good
	if err := os.WriteFile(filepath.Join(s.Root(), bad.ID, "run.json"), []byte(`{"id": "kr-bad`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.LoadMeta(bad.ID)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(bad.ID, "run.json")) {
		t.Fatalf("damaged run.json gave %v; want an error naming the file", err)
	}
	// List shows the others and names the damaged one.
	list, err := s.List()
	var damaged DamagedRuns
	if !errors.As(err, &damaged) || len(damaged) != 1 || damaged[0].RunID != bad.ID ||
		!strings.Contains(damaged[0].Error(), filepath.Join(bad.ID, "run.json")) {
		t.Fatalf("list with a damaged run: error %v; want the damaged run named", err)
	}
	if len(list) != 1 || list[0].ID != "kr-good0000" {
		t.Fatalf("list with a damaged run: %v", list)
	}
	if id, err := s.Resolve("last"); err != nil || id != "kr-good0000" {
		t.Fatalf("last with a damaged run: %q, %v", id, err)
	}
	// A damaged step record is named; the other records still load.
	for _, st := range []string{"a", "b"} {
		if err := s.SaveStep(good.ID, &StepResult{ID: st, Status: StepCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(s.StepDir(good.ID, "b"), "result.json")
	if err := os.WriteFile(p, []byte("{\"id\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A temp file left by a crash in the middle of a write is ignored.
	if err := os.WriteFile(filepath.Join(s.StepDir(good.ID, "a"), ".result.json.tmp-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps, err := s.LoadSteps(good.ID)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("damaged step record gave %v; want an error naming %s", err, p)
	}
	if steps["a"] == nil || steps["a"].Status != StepCompleted {
		t.Fatalf("the good record was lost: %+v", steps)
	}
}

// A crash or a full disk in the middle of a journal line leaves it torn:
// the next process to write repairs it, as a write-ahead log does, so it
// is not read as damage forever.
func TestFileStoreJournalTornLine(t *testing.T) {
	t.Parallel()
	whole, _ := json.Marshal(Event{Type: EventStepFinished, Step: "w"})
	for _, tt := range []struct {
		name, torn string
		want       []string // steps of the events after the repair
	}{
		{"cut in the middle", `{"type":"step_sta`, []string{"", "x"}},
		{"cut before its newline", string(whole), []string{"", "w", "x"}},
		{"cut right after the previous line", "", []string{"", "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			m := mkRun(t, s, "kr-journal0", time.Now())
			if err := s.Append(m.ID, Event{Type: EventRunStarted, RunID: m.ID}, true); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(s.Root(), m.ID, "journal.jsonl")
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tt.torn)
			f.Close()
			if tt.torn != "" && !json.Valid([]byte(tt.torn)) {
				if _, warns, _ := s.Journal(m.ID); len(warns) != 1 || !strings.Contains(warns[0], "journal.jsonl:2") {
					t.Fatalf("before the repair: warnings %q; want one naming journal.jsonl:2", warns)
				}
			}
			s2 := NewFileStore(filepath.Dir(s.Root())) // a new process
			if err := s2.Append(m.ID, Event{Type: EventStepStarted, RunID: m.ID, Step: "x"}, true); err != nil {
				t.Fatal(err)
			}
			evs, warns, err := s2.Journal(m.ID)
			if err != nil || len(warns) != 0 {
				t.Fatalf("after the repair: %v, warnings %q", err, warns)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Step)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
			data, _ := os.ReadFile(p)
			if !bytes.HasSuffix(data, []byte("\n")) || bytes.Contains(data, []byte("\n\n")) {
				t.Fatalf("journal not whole lines:\n%s", data)
			}
		})
	}
}

func TestFileStoreResolve(t *testing.T) {
	s := newTestStore(t)
	now := time.Now()
	mkRun(t, s, "kr-abc11111", now)
	mkRun(t, s, "kr-abc22222", now.Add(2*time.Second))
	mkRun(t, s, "kr-xyz00000", now.Add(time.Second))
	tests := []struct {
		ref, want, errHas string
		notFound, usage   bool
	}{
		{ref: "kr-abc11111", want: "kr-abc11111"},
		{ref: "kr-abc1", want: "kr-abc11111"},
		{ref: "abc2", want: "kr-abc22222"},
		{ref: "x", want: "kr-xyz00000"},
		{ref: "last", want: "kr-abc22222"},
		{ref: "abc", errHas: "kr-abc11111, kr-abc22222", usage: true},
		{ref: "kr-", errHas: "matches 3 runs", usage: true},
		{ref: "nope", errHas: "no run matches", notFound: true},
		{ref: "", errHas: "no run given", usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := s.Resolve(tt.ref)
			if tt.errHas == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Resolve(%q) error %v; want one containing %q", tt.ref, err, tt.errHas)
			}
			var ue *UsageError
			if errors.As(err, &ue) != tt.usage || errors.Is(err, ErrNotFound) != tt.notFound {
				t.Fatalf("Resolve(%q) error %v: usage=%v notFound=%v", tt.ref, err, errors.As(err, &ue), errors.Is(err, ErrNotFound))
			}
		})
	}
	empty := newTestStore(t)
	if _, err := empty.Resolve("last"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last with no runs: %v", err)
	}
}

func TestFileStoreLock(t *testing.T) {
	s := newTestStore(t)
	m := mkRun(t, s, "kr-lock0000", time.Now())
	unlock, err := s.Lock(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	pid, held, err := s.Held(m.ID)
	if err != nil || !held || pid != os.Getpid() {
		t.Fatalf("Held = %d, %v, %v; want our pid", pid, held, err)
	}
	_, err = s.Lock(m.ID)
	var he *HeldError
	if !errors.As(err, &he) || he.PID != os.Getpid() || !strings.Contains(err.Error(), "executions cancel kr-lock0000") {
		t.Fatalf("second lock gave %v", err)
	}
	unlock()
	if _, held, _ := s.Held(m.ID); held {
		t.Fatal("still held after unlock")
	}
	unlock2, err := s.Lock(m.ID)
	if err != nil {
		t.Fatalf("relock: %v", err)
	}
	unlock2()
}

// A lock held by a process that was SIGKILLed is free: the stale-lock
// takeover.
func TestFileStoreStaleLockTakeover(t *testing.T) {
	home := t.TempDir()
	s := NewFileStore(home)
	m := mkRun(t, s, "kr-stale000", time.Now())
	child, _ := startChild(t, "lock", home, []string{"KITARU_TEST_RUN=" + m.ID}, "locked")
	_, err := s.Lock(m.ID)
	var he *HeldError
	if !errors.As(err, &he) || he.PID != child.Process.Pid {
		t.Fatalf("lock while the child holds it: %v (child pid %d)", err, child.Process.Pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	unlock, err := s.Lock(m.ID)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	unlock()
}

// A holder killed while forking a step's command leaves its lock shared
// with the half-made child until that child execs: the lock of a dead
// holder is waited for, so a resume right after kill -9 is not refused in
// the dead process's name.
func TestFileStoreLockOfADeadHolderSettles(t *testing.T) {
	s := newTestStore(t)
	m := mkRun(t, s, "kr-dead0000", time.Now())
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := gone.Process.Pid
	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"held", func() error {
			if pid, held, err := s.Held(m.ID); err != nil || held {
				return fmt.Errorf("Held = %d, %v, %v while only the dead process's child had it", pid, held, err)
			}
			return nil
		}},
		{"lock", func() error {
			unlock, err := s.Lock(m.ID)
			if err != nil {
				return err
			}
			unlock()
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Another descriptor of the lock, holding it in the name of
			// the dead process, as the half-made child does.
			lf, err := os.OpenFile(filepath.Join(s.Root(), m.ID, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()
			if err := tryLock(lf); err != nil {
				t.Fatal(err)
			}
			lf.Truncate(0)
			lf.WriteAt([]byte(strconv.Itoa(dead)+"\n"), 0)
			released := make(chan struct{})
			go func() {
				defer close(released)
				time.Sleep(50 * time.Millisecond) // the child execs
				unlockFile(lf)
			}()
			err = tc.try()
			<-released
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFileStoreLogsAndCancel(t *testing.T) {
	s := newTestStore(t)
	m := mkRun(t, s, "kr-logs0000", time.Now())
	two := 2
	lines := []LogLine{{Time: time.Now(), Step: "a", Text: "hello world"}, {Time: time.Now(), Step: "b", Item: &two, Text: "x"}, {Time: time.Now(), Text: "run"}}
	for _, l := range lines {
		if err := s.AppendLog(m.ID, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Logs(m.ID)
	if err != nil || len(got) != 3 || got[0].Text != "hello world" || got[1].Step != "b" || *got[1].Item != 2 || got[2].Step != "" {
		t.Fatalf("logs %+v, %v", got, err)
	}
	if s.CancelRequested(m.ID) {
		t.Fatal("cancel requested before asking")
	}
	if err := s.RequestCancel(m.ID); err != nil || !s.CancelRequested(m.ID) {
		t.Fatalf("cancel: %v", err)
	}
	if err := s.ClearCancel(m.ID); err != nil || s.CancelRequested(m.ID) {
		t.Fatalf("clear cancel: %v", err)
	}
}

// A record whose output is big is written compact, encoded straight into
// its file (indenting would copy it again), and reads back the same; a
// small one stays indented for people.
func TestFileStoreBigRecordsCompact(t *testing.T) {
	t.Parallel()
	s := NewFileStore(t.TempDir())
	meta := &RunMeta{Run: Run{ID: "kr-bigrecrd", Flow: "f", Status: RunRunning}, Plan: []PlanStep{{ID: "big"}, {ID: "small"}}}
	unlock, err := s.Create(meta, []byte("name: f\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	big := strings.Repeat("x", indentMax+1)
	for _, r := range []*StepResult{{ID: "big", Status: StepCompleted, Output: big}, {ID: "small", Status: StepCompleted, Output: "hi"}} {
		if err := s.SaveStep(meta.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveItem(meta.ID, "big", &ItemResult{Index: 0, Status: StepCompleted, Output: big}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file    string
		indents bool
	}{{"steps/big/result.json", false}, {"steps/big/items/0.json", false}, {"steps/small/result.json", true}} {
		data, err := os.ReadFile(filepath.Join(s.Root(), meta.ID, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "\n") > 1; got != tt.indents {
			t.Errorf("%s: indented %v, want %v", tt.file, got, tt.indents)
		}
	}
	r, err := s.LoadStep(meta.ID, "big")
	if err != nil || r.Output != big {
		t.Errorf("the big record does not read back: %v", err)
	}
	items, err := s.LoadItems(meta.ID, "big")
	if err != nil || items[0].Output != big {
		t.Errorf("the big item does not read back: %v", err)
	}
}
