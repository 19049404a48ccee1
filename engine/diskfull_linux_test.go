package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
)

// tinyDisk mounts a tmpfs of 1 MiB for the test, or skips it where that
// is not allowed (not root, no CAP_SYS_ADMIN).
func tinyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v): needs root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// tinyDiskEnv is a test engine whose runs live on a tiny disk.
func tinyDiskEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	home := tinyDisk(t)
	te := newEnvOver(t, filestore.New(home), home)
	te.eng = New(Config{Store: te.store})
	return te, home
}

// fillDisk fills the disk holding dir.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "fill")
	w, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = w.Write(make([]byte, 4096))
	}
	w.Close()
	return p
}

// A disk that fills up while a run runs: the run stops with a sentence that
// says the disk is full and that resume continues it, and once there is
// space again, resume does, with a journal whose torn line is repaired.
func TestDiskFullThenResume(t *testing.T) {
	t.Parallel()
	te, home := tinyDiskEnv(t)
	fill := filepath.Join(home, "fill")
	f := te.flow(`
name: full
steps:
  a:
    kind: checkpoint
    run: echo x >> COUNTER/a; echo A
  b:
    kind: checkpoint
    needs: [a]
    run: |
      echo x >> COUNTER/b
      if [ ! -f COUNTER/filled ]; then touch COUNTER/filled; head -c 8m /dev/zero > ` + fill + ` 2>/dev/null; fi
      echo B-${{ steps.a.output }}
  c:
    kind: checkpoint
    needs: [b]
    run: echo x >> COUNTER/c; echo C-${{ steps.b.output }}
output: ${{ steps.c.output }}
`)
	_, err := te.eng.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
	metas, lerr := listRuns(te.store)
	if lerr != nil || len(metas) != 1 {
		t.Fatalf("after the disk filled: %v, %v", metas, lerr)
	}
	id := metas[0].ID
	if fix := runstore.RemedyOf(err); err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "the disk is full") ||
		fix == nil || *fix != (runstore.Remedy{Do: runstore.RemedyFreeSpace, Run: id}) {
		t.Fatalf("the run on a full disk ended with %v; want a sentence saying the disk is full and that resume continues", err)
	}
	t.Logf("on a full disk: %v", err)
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	resumeFull(t, te, id)
}

func resumeFull(t *testing.T, te *testEnv, id string) {
	t.Helper()
	resumeStopped(t, te, id, "C-B-A")
	// a was recorded before the disk filled; b or c, whose record could
	// not be written, ran again.
	if n := te.count("a"); n != 1 {
		t.Errorf("step a ran %d times, want 1", n)
	}
	if b, c := te.count("b"), te.count("c"); b < 1 || b > 2 || c < 1 || c > 2 {
		t.Errorf("steps b and c ran %d and %d times; want each once, or twice when its record could not be written", b, c)
	}
}

// A disk already full when a run is created: nothing is recorded, not even
// a half-made run, and the error says so.
func TestDiskFullAtCreation(t *testing.T) {
	t.Parallel()
	te, home := tinyDiskEnv(t)
	if err := os.MkdirAll(te.files.Root(), 0o700); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, home)
	_, err := te.eng.Start(context.Background(), StartOptions{Flow: te.flow("name: x\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), Inputs: map[string]any{}})
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "nothing was recorded") {
		t.Fatalf("start on a full disk: %v", err)
	}
	ents, _ := os.ReadDir(te.files.Root())
	if len(ents) != 0 {
		t.Errorf("a full disk left %v in the store", ents)
	}
}

// A journal line that a full disk cuts short is taken back at once, so the
// journal stays whole lines and the next event is not glued to it.
func TestDiskFullJournalWriteTakenBack(t *testing.T) {
	t.Parallel()
	home := tinyDisk(t)
	s := filestore.New(home)
	m := mkRun(t, s, "kr-full0000", time.Now())
	if err := s.AppendEvents(bg, m.ID, Event{Type: EventRunStarted, RunID: m.ID}); err != nil {
		t.Fatal(err)
	}
	fill := fillDisk(t, home)
	// The journal's last page has room for part of a big line only.
	big := Event{Type: EventStepRetrying, RunID: m.ID, Step: "s", Error: strings.Repeat("e", 6000)}
	if err := s.AppendEvents(bg, m.ID, big); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	p := filepath.Join(s.Root(), m.ID, "journal.jsonl")
	data, _ := os.ReadFile(p)
	if !bytes.HasSuffix(data, []byte("\n")) || bytes.Count(data, []byte("\n")) != 1 {
		t.Fatalf("the cut-short line was left in the journal (%d bytes)", len(data))
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(bg, m.ID, big); err != nil {
		t.Fatal(err)
	}
	evs, warns, err := journal(s, m.ID)
	if err != nil || len(warns) != 0 || len(evs) != 2 {
		t.Fatalf("journal: %d events, %v, warnings %q", len(evs), err, warns)
	}
}
