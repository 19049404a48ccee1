package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/bytesize"
)

// TestValidateHelpNamesTheSizeLimit: the help's figure is flowspec's.
func TestValidateHelpNamesTheSizeLimit(t *testing.T) {
	t.Parallel()
	if want := "at most " + bytesize.Format(flowspec.MaxFileSize); !strings.Contains((&validateCmd{}).Help(), want) {
		t.Errorf("validate's help does not say %q", want)
	}
}

// TestE2EValidateRefusesHugeInput: a device that never ends and a 20 MB
// file are refused quickly with the limit, not read into memory.
func TestE2EValidateRefusesHugeInput(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	huge := filepath.Join(e.Dir, "huge.yaml")
	id := strings.Repeat("s", 20<<20)
	if err := os.WriteFile(huge, []byte("name: huge\nsteps:\n  "+id+":\n    kind: checkpoint\n    value: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{"/dev/zero", "/dev/zero:1:1: more than 8MiB can be read from it; a flow file may be at most 8MiB (8388608 bytes): keep long text in files that a step reads, or check that this is the flow file you meant\n"},
		{huge, huge + ":1:1: the file is 20.0MiB (20971576 bytes); a flow file may be at most 8MiB (8388608 bytes): keep long text in files that a step reads, or check that this is the flow file you meant\n"},
	}
	for _, tt := range tests {
		start := time.Now()
		r := e.must(ExitUsage, "validate", tt.file)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("validate %s took %v", tt.file, took)
		}
		if want := tt.want + tt.file + ": 1 error\n"; r.Stderr != want {
			t.Errorf("validate %s: stderr\n%s\nwant\n%s", tt.file, r.Stderr, want)
		}
	}
}

// TestE2EBadBytesAtTheirPlace: an invalid byte on line 5 is reported on
// line 5, not at 1:1.
func TestE2EBadBytesAtTheirPlace(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("flow.yaml", "name: bytes\nsteps:\n  a:\n    kind: checkpoint\n    value: ok \xff\n")
	r := e.must(ExitUsage, "validate", flow)
	if want := flow + ":5:15: invalid UTF-8 byte 0xff; save the file as UTF-8\n"; !strings.HasPrefix(r.Stderr, want) {
		t.Errorf("stderr\n%s\nwant it to start\n%s", r.Stderr, want)
	}
}

// TestE2EExpressionMemoryFailsTheStep: the expression of issue 10 once
// took 9.8 GB or killed kitaru with "fatal error: out of memory"; it now
// loads, then fails its step with the limit.
func TestE2EExpressionMemoryFailsTheStep(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.write("flow.yaml", `name: hostile
steps:
  big:
    kind: checkpoint
    value: ${{ len(repeat(repeat("x", 100000), 100000)) }}
`)
	e.must(ExitOK, "validate", flow)
	r := e.run("run", flow)
	if r.Code == ExitOK {
		t.Fatalf("the run succeeded:\n%s", r)
	}
	out := r.Stdout + r.Stderr
	want := `step "big" value: ${{ len(repeat(repeat("x", 100000), 100000)) }} would use more than 64MiB of memory, the limit for one expression`
	if !strings.Contains(out, want) || strings.Contains(out, "fatal error") || strings.Contains(out, "goroutine") {
		t.Errorf("want the step to fail with %q:\n%s", want, r)
	}
}
