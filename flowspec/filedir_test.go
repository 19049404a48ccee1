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

// A flow reached through a link runs in the directory of the file the
// link leads to (where the scripts and data it names are), through links
// of links and relative ones too; a flow in a linked directory keeps the
// directory as written.
func TestLinkedFlowRunsWhereItsFileIs(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r // the temporary directory may itself be reached by a link
	}
	real, links := filepath.Join(root, "flows"), filepath.Join(root, "links")
	for _, d := range []string{real, links} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(real, "flow.yaml"), []byte("name: here\nsteps:\n  a: {kind: checkpoint, value: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, to string }{
		{"abs.yaml", filepath.Join(real, "flow.yaml")},
		{"rel.yaml", "../flows/flow.yaml"},
		{"twice.yaml", "rel.yaml"},
	} {
		if err := os.Symlink(l.to, filepath.Join(links, l.name)); err != nil {
			t.Skipf("cannot make links here: %v", err)
		}
	}
	dirLink := filepath.Join(root, "dirlink")
	if err := os.Symlink(real, dirLink); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(links, "abs.yaml"):    real,
		filepath.Join(links, "rel.yaml"):    real,
		filepath.Join(links, "twice.yaml"):  real,
		filepath.Join(dirLink, "flow.yaml"): dirLink,
	} {
		f, err := Load(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Dir != want || f.File != path {
			t.Errorf("Load(%s): Dir %q, File %q; want %q, the path as given", path, f.Dir, f.File, want)
		}
	}
}
