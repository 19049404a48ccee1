package termscreen

import "testing"

func TestScreenModel(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain lines", "a\nb\n", "a\nb\n"},
		{"carriage return overwrites", "abc\rX\n", "Xbc\n"},
		{"cursor up and erase redraws", "one\ntwo\n\x1b[2A\r\x1b[2Kuno\n\r\x1b[2Kdos\n", "uno\ndos\n"},
		{"erase below drops a longer old frame", "1\n2\n3\n\x1b[3A\r\x1b[2Kx\n\x1b[J", "x\n"},
		{"colours are invisible", "\x1b[32m✓\x1b[0m ok\n", "✓ ok\n"},
		{"long lines wrap", "abcdefgh\n", "abcde\nfgh\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			width := 80
			if tc.name == "long lines wrap" {
				width = 5
			}
			s := New(width)
			s.Feed(tc.in)
			if got := s.String(); got != tc.want {
				t.Errorf("screen = %q, want %q", got, tc.want)
			}
			if len(s.Unknown()) > 0 {
				t.Errorf("unknown sequences: %q", s.Unknown())
			}
		})
	}
}
