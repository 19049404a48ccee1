package flowspec

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"1": 1, "1048576": 1 << 20, "512KiB": 512 << 10, "16MiB": 16 << 20, "16 mib": 16 << 20, "1GiB": 1 << 30,
		"10MB": 10_000_000, "2kB": 2000, "1.5KiB": 1536, "64k": 64 << 10, "3M": 3 << 20, "100B": 100,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "lots", "-1", "0", "0.1", "1e6", "0x10", "+5", "inf", "NaN", "1 parsec", "99999999999GiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16MiB", 1 << 30: "1GiB", 1536: "1.5KiB", 700: "700B", 10_000_000: "9.5MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

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
	if load("", ", max_output: 16MiB").Step("a").Fingerprint != plain.Step("a").Fingerprint {
		t.Error("max_output: 16MiB (the default) changed the fingerprint")
	}
	if own.Fingerprint == plain.Step("a").Fingerprint {
		t.Error("max_output is not in the fingerprint")
	}
}
