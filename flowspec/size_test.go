package flowspec

import (
	"strings"
	"testing"
)

func TestMaxOutputDefaultsAndFingerprint(t *testing.T) {
	t.Parallel()
	const flow = "name: m\nDEFAULTS\nsteps:\n  a: {kind: checkpoint, run: echo hi STEP}\n  v: {kind: checkpoint, value: 1}\n"
	load := func(defaults, step string) *Flow {
		t.Helper()
		src := strings.NewReplacer("DEFAULTS", defaults, "STEP", step).Replace(flow)
		f, err := Parse("m.yaml", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	plain := load("", "")
	if got := plain.Step("a").Checkpoint.MaxOutput; got != 0 {
		t.Errorf("unset max_output = %d, want 0 (the default)", got)
	}
	if got := load("defaults: {max_output: 1MiB}", "").Step("a").Checkpoint.MaxOutput; got != 1<<20 {
		t.Errorf("defaults.max_output gave %d", got)
	}
	if got := load("defaults: {max_output: 1MiB}", "").Step("v").Checkpoint.MaxOutput; got != 0 {
		t.Errorf("a value step took max_output %d from defaults", got)
	}
	own := load("defaults: {max_output: 1MiB}", ", max_output: 2KiB").Step("a")
	if own.Checkpoint.MaxOutput != 2048 {
		t.Errorf("the step's own max_output gave %d", own.Checkpoint.MaxOutput)
	}
	// Writing the default out changes nothing; another cap changes what the
	// step may do, so a replay must run it again.
	if load("", ", max_output: 16MiB").Step("a").Fingerprint() != plain.Step("a").Fingerprint() {
		t.Error("max_output: 16MiB (the default) changed the fingerprint")
	}
	if own.Fingerprint() == plain.Step("a").Fingerprint() {
		t.Error("max_output is not in the fingerprint")
	}
}
