package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRunes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 6, "hello"},
		{"hello!", 5, "hell…"},
		{"héllo wörld", 5, "héll…"},
		{"日本語のテキスト", 4, "日本語…"},
		{"ab", 1, "ab"[:0] + "…"},
		{"", 3, ""},
		{"anything", 0, "anything"},
		{"日本", 2, "日本"},
	}
	for _, tt := range tests {
		if got := Runes(tt.s, tt.n); got != tt.want {
			t.Errorf("Runes(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
		if got := Runes(tt.s, tt.n); tt.n > 0 && utf8.RuneCountInString(got) > tt.n {
			t.Errorf("Runes(%q, %d) = %q has more than %d characters", tt.s, tt.n, got, tt.n)
		}
	}
}

func TestBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "hello…"},
		{"aé", 2, "a…"}, // é is two bytes: not split
		{"日本語", 4, "日…"},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := Bytes(tt.s, tt.n); got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Bytes(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// A cut reads no more of the text than it keeps.
func BenchmarkRunesOfABigValue(b *testing.B) {
	s := strings.Repeat("x", 8<<20)
	b.ReportAllocs()
	for b.Loop() {
		_ = Runes(s, 40)
	}
}
