package fsutil

import (
	"os"
	"path/filepath"
	"testing"
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
