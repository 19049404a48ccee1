package textsafe

import (
	"bytes"
	"testing"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text\twith a tab\n":    "plain text\twith a tab\n",
		`back\slash and ünïcode ✓`:    `back\slash and ünïcode ✓`,
		"\x1b]0;pwned\x07title":       `\x1b]0;pwned\x07title`,
		"\x1b[2J\x1b[Hcleared":        `\x1b[2J\x1b[Hcleared`,
		"over\rwrite":                 `over\rwrite`,
		"nul\x00 del\x7f bs\b":        `nul\x00 del\x7f bs\x08`,
		"c1 csi \u009b31m and \u0085": `c1 csi \u009b31m and \u0085`,
		"bad \xff\xfe utf8 \xe2\x82":  `bad \xff\xfe utf8 \xe2\x82`,
		"":                            "",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, s := range []string{"ok\n", "\x1b[31mred\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Errorf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got, want := b.String(), "ok\n\\x1b[31mred\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func BenchmarkEscapePlain(b *testing.B) {
	line := bytes.Repeat([]byte("an ordinary log line of text, nothing to escape "), 4)
	s := string(line)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = Escape(s)
	}
}
