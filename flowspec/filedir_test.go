package flowspec

import (
	"os"
	"path/filepath"
	"testing"
)

// A flow loaded from a file knows the file's directory, where its steps
// run; one from stdin, a pipe or a device has none.
func TestLoadRecordsTheFlowFilesDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(p, []byte("name: here\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(rel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(dir); f.Dir != dir && f.Dir != want {
		t.Errorf("Load(%q).Dir = %q, want %q", rel, f.Dir, dir)
	}
	if f.File != rel {
		t.Errorf("File %q, want the path as given %q", f.File, rel)
	}
	for _, path := range []string{"/dev/null", "/dev/stdin", "/proc/self/fd/0", dir} {
		if got := fileDir(path); got != "" {
			t.Errorf("fileDir(%q) = %q, want none", path, got)
		}
	}
	parsed, err := Parse("flow.yaml", []byte("name: p\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Dir != "" {
		t.Errorf("Parse gave Dir %q, want none", parsed.Dir)
	}
}
