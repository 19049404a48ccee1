package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "record.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("read %q, want %q", got, content)
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != FilePerm {
		t.Errorf("file mode %v, want %v", info.Mode().Perm(), FilePerm)
	}
	dinfo, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if dinfo.Mode().Perm() != DirPerm {
		t.Errorf("dir mode %v, want %v", dinfo.Mode().Perm(), DirPerm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestDirs(t *testing.T) {
	tests := []struct {
		name, kitaruHome, xdgData, xdgConfig, wantData, wantConfig string
	}{
		{"kitaru home wins", "/k", "/d", "/c", "/k", "/c/kitaru"},
		{"xdg", "", "/d", "/c", "/d/kitaru", "/c/kitaru"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KITARU_HOME", tt.kitaruHome)
			t.Setenv("XDG_DATA_HOME", tt.xdgData)
			t.Setenv("XDG_CONFIG_HOME", tt.xdgConfig)
			if got, _ := DataDir(); got != tt.wantData {
				t.Errorf("DataDir = %q, want %q", got, tt.wantData)
			}
			if got, _ := ConfigDir(); got != tt.wantConfig {
				t.Errorf("ConfigDir = %q, want %q", got, tt.wantConfig)
			}
		})
	}
}

func TestReplaceFileSynced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	for _, content := range []string{"first", "second, longer than the first", ""} {
		if err := ReplaceFileSynced(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("after ReplaceFileSynced(%q): %q, %v", content, got, err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != FilePerm {
			t.Fatalf("mode %v, want %v", st.Mode().Perm(), os.FileMode(FilePerm))
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := SyncDir(filepath.Join(dir, "gone")); err == nil {
		t.Fatal("SyncDir of a missing directory succeeded")
	}
}

func TestTogether(t *testing.T) {
	t.Parallel()
	var ran [3]bool
	errA, errB := errors.New("a failed"), errors.New("b failed")
	err := Together(
		func() error { ran[0] = true; return errA },
		func() error { ran[1] = true; return nil },
		func() error { ran[2] = true; return errB })
	if ran != [3]bool{true, true, true} {
		t.Errorf("ran %v, want all three", ran)
	}
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("Together = %v, want both errors", err)
	}
	if err := Together(); err != nil {
		t.Errorf("Together() = %v", err)
	}
}

// BenchmarkThreeFiles writes and syncs three new files and their
// directory, one after another and together (see Together).
func BenchmarkThreeFiles(b *testing.B) {
	write := func(dir string, i int) func() error {
		return func() error {
			f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 700)); err != nil {
				return err
			}
			return f.Sync()
		}
	}
	for _, together := range []bool{false, true} {
		b.Run(fmt.Sprintf("together=%v", together), func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				ws := []func() error{write(dir, 0), write(dir, 1), write(dir, 2)}
				if together {
					if err := Together(ws...); err != nil {
						b.Fatal(err)
					}
				} else {
					for _, w := range ws {
						if err := w(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := SyncDir(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Many goroutines syncing one directory while a sync of it runs share
// the next one: 64 askers, the first of them held in its sync while the
// others ask, cost two syncs; each returns after a sync begun after it
// asked.
func TestDirSyncsShare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var syncs int
	g := DirSyncs{sync: func(d string) error {
		mu.Lock()
		syncs++
		n := syncs
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		return SyncDir(d)
	}}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.SyncDir(dir); err != nil {
			t.Error(err)
		}
	})
	<-first
	for range 63 {
		wg.Go(func() {
			if err := g.SyncDir(dir); err != nil {
				t.Error(err)
			}
		})
	}
	for { // until all 64 wait

		g.mu.Lock()
		n := g.dirs[dir].askers
		g.mu.Unlock()
		if n == 64 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if syncs != 2 {
		t.Errorf("64 askers cost %d syncs, want 2", syncs)
	}
	g.mu.Lock()
	left := len(g.dirs)
	g.mu.Unlock()
	if left != 0 {
		t.Errorf("%d directories still kept after every sync ended", left)
	}
	if err := (&DirSyncs{}).SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("a sync of a missing directory did not fail")
	}
}
