package bytesize

import "testing"

func TestParseAndFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"1": 1, "1048576": 1 << 20, "512KiB": 512 << 10, "16MiB": 16 << 20, "16 mib": 16 << 20, "1GiB": 1 << 30,
		"10MB": 10_000_000, "2kB": 2000, "1.5KiB": 1536, "64k": 64 << 10, "3M": 3 << 20, "100B": 100,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "lots", "-1", "0", "0.1", "1e6", "0x10", "+5", "inf", "NaN", "1 parsec", "99999999999GiB"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16MiB", 1 << 30: "1GiB", 1536: "1.5KiB", 700: "700B", 10_000_000: "9.5MiB"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
