package flowspec

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFileSize: a file at the limit loads; one byte more, or a device
// that never ends, is refused with the size and the limit.
func TestLoadFileSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flow := "name: f\nsteps:\n  a:\n    kind: checkpoint\n    value: 1\n"
	pad := func(n int) string { return flow + "#" + strings.Repeat("x", n-len(flow)-2) + "\n" }
	atLimit := filepath.Join(dir, "at.yaml")
	over := filepath.Join(dir, "over.yaml")
	for p, content := range map[string]string{atLimit: pad(MaxFileSize), over: pad(MaxFileSize + 1)} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(atLimit, Options{}); err != nil {
		t.Errorf("a file of exactly %d bytes: %v", MaxFileSize, err)
	}
	tests := []struct{ path, want string }{
		{over, over + ":1:1: the file is 8.0MiB (8388609 bytes); a flow file may be at most 8MiB (8388608 bytes): keep long text in files that a step reads, or check that this is the flow file you meant"},
		{"/dev/zero", "/dev/zero:1:1: more than 8MiB can be read from it; a flow file may be at most 8MiB (8388608 bytes): keep long text in files that a step reads, or check that this is the flow file you meant"},
	}
	for _, tt := range tests {
		_, err := Load(tt.path, Options{})
		var list *ErrorList
		if !errors.As(err, &list) || err.Error() != tt.want {
			t.Errorf("Load(%s) = %v, want\n%s", tt.path, err, tt.want)
		}
	}
	if _, err := Parse("big.yaml", make([]byte, MaxFileSize+1), Options{}); err == nil || !strings.Contains(err.Error(), "at most 8MiB") {
		t.Errorf("Parse of %d bytes: %v", MaxFileSize+1, err)
	}
}

// TestReadBounded: a flow read from a stream (stdin) is bounded as a file
// is, named as told, and has no directory of its own.
func TestReadBounded(t *testing.T) {
	t.Parallel()
	f, err := Read(StdinName, strings.NewReader("name: f\nsteps:\n  a:\n    kind: checkpoint\n    value: 1\n"), Options{})
	if err != nil || f.File != StdinName || f.Dir != "" {
		t.Fatalf("Read = %+v, %v; want a flow named %s with no directory", f, err, StdinName)
	}
	_, err = Read(StdinName, io.LimitReader(zeros{}, MaxFileSize+1), Options{})
	if want := "<stdin>:1:1: more than 8MiB can be read from it"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Read of %d bytes: %v, want %q", MaxFileSize+1, err, want)
	}
	_, err = Read(StdinName, strings.NewReader("name: f\nsteps:\n  a: {kind: bogus}\n"), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "<stdin>:3:") {
		t.Errorf("a bad flow read: %v, want an error at <stdin>:3", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestFileSizeMargin: the generated flow of the benchmarks, 10,000 steps,
// stays far below the limit.
func TestFileSizeMargin(t *testing.T) {
	t.Parallel()
	if n := len(bigFlow(10000)); 4*n > MaxFileSize {
		t.Errorf("a 10,000-step flow is %d bytes, more than a quarter of MaxFileSize", n)
	}
}

// TestLongNamesAreCut: names of megabytes are quoted cut, so that the
// messages stay readable; a key past YAML's limit of 1024 characters says
// so rather than blaming a ": ".
func TestLongNamesAreCut(t *testing.T) {
	t.Parallel()
	src := "name: " + strings.Repeat("N", 1<<20) + "\ninputs:\n  " + strings.Repeat("i", 1000) + "-x: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    value: 1\n"
	_, err := Parse("long.yaml", []byte(src), Options{})
	if err == nil {
		t.Fatal("loads")
	}
	if n := len(err.Error()); n > 1000 {
		t.Errorf("the errors are %d bytes long:\n%.600s", n, err)
	}
	_, err = Parse("key.yaml", []byte("name: k\nsteps:\n  "+strings.Repeat("s", 2000)+":\n    kind: checkpoint\n    value: 1\n"), Options{})
	if want := "key.yaml:3:3: this key is 2000 characters long; YAML allows at most 1024 in a key (a step id may have 128): shorten it"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want\n%s", err, want)
	}
}

// TestInputsFileSize: an inputs file is read with the flow file's bound, so
// --inputs /dev/zero answers at once instead of filling memory.
func TestInputsFileSize(t *testing.T) {
	t.Parallel()
	over := filepath.Join(t.TempDir(), "over.json")
	if err := os.WriteFile(over, []byte(`{"a": "`+strings.Repeat("x", MaxFileSize)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{over, "/dev/zero"} {
		_, err := ReadInputsFile(p)
		if want := "the inputs file " + p + " holds more than 8MiB; inputs are for small values: pass a path and read the file in a step"; err == nil || err.Error() != want {
			t.Errorf("ReadInputsFile(%s) = %v, want %q", p, err, want)
		}
	}
}
