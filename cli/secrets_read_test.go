//go:build linux

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ESecretValueReadNotTyped: a key given with no value takes it from
// stdin when piped, or from the terminal without echo; none of it is
// left on the command line.
func TestE2ESecretValueReadNotTyped(t *testing.T) {
	t.Parallel()
	const value = "sk-read-from-stdin-12345"
	for _, tt := range []struct {
		name, pair string
	}{{"no value", "--OPENAI_API_KEY"}, {"a dash", "--OPENAI_API_KEY=-"}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t)
			e.setenv("KITARU_SECRETS_BACKEND", "file")
			cmd := e.command("secrets", "set", "oa", tt.pair)
			cmd.Stdin = strings.NewReader(value + "\n")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("secrets set with the value on stdin: %v\n%s", err, out.String())
			}
			got := e.must(0, "secrets", "show", "oa", "--show-values").Stdout
			if !strings.Contains(got, value) || strings.Contains(got, value+"\n\n") {
				t.Errorf("the stored value is not the one piped:\n%s", got)
			}
		})
	}

	e := newE2E(t)
	e.setenv("KITARU_SECRETS_BACKEND", "file")
	cmd := e.command("secrets", "set", "oa", "--A", "--B")
	cmd.Stdin = strings.NewReader("x\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "only one value can be read from stdin") {
		t.Errorf("two keys from a pipe: %v\n%s", err, out)
	}

	drawn, code := runInPTYWith(t, e.command("secrets", "set", "typed", "--TOKEN"), 100, func(s *ptySession) {
		s.waitDrawn(t, "the prompt", func(d string) bool { return strings.Contains(d, "value of TOKEN (not shown): ") })
		s.typeKeys(t, "typed-secret-98765\r")
	})
	if code != 0 || strings.Contains(drawn, "typed-secret") {
		t.Errorf("a typed value: exit %d, and it must not be echoed:\n%s", code, drawn)
	}
	raw, err := os.ReadFile(filepath.Join(e.Cfg, "kitaru", "secrets.file.json"))
	if err != nil || !bytes.Contains(raw, []byte("typed-secret-98765")) {
		t.Errorf("the typed value is not what was stored: %v\n%s", err, raw)
	}
}
