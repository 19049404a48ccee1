package cli

import (
	"strings"
	"testing"
)

func TestBareCommandPrintsHelp(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, ExitOK, "Run durable LLM flows declared in YAML.", ""},
		{[]string{"--help"}, ExitOK, "executions", ""},
		{[]string{"nonsense"}, ExitUsage, "", "Run 'kitaru --help' for usage."},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.inStdout) || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("kitaru %v: exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				tt.args, code, stdout, stderr, tt.code, tt.inStdout, tt.inStderr)
		}
	}
}
