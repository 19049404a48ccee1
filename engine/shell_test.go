package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostileValues are inputs and model answers written to break out of a
// command: each would run `touch COUNTER/pwned` if kitaru pasted it into
// the command's text.
var hostileValues = map[string]string{
	"double quote":  `x"; touch COUNTER/pwned; echo "`,
	"single quote":  `x'; touch COUNTER/pwned; echo '`,
	"semicolon":     `x; touch COUNTER/pwned`,
	"command subst": `$(touch COUNTER/pwned)`,
	"backticks":     "`touch COUNTER/pwned`",
	"newline":       "x\ntouch COUNTER/pwned",
	"heredoc end":   "x\nEOF\ntouch COUNTER/pwned\ncat <<EOF",
	"variable":      `$HOME ${HOME} $((1+1))`,
	"backslashes":   `a\\b\"c\$(touch COUNTER/pwned)\`,
	"pipe and amp":  `x | touch COUNTER/pwned & touch COUNTER/pwned`,
	"redirect":      `x > COUNTER/pwned`,
}

// TestShellValuesAreNeverSyntax runs real sh with hostile values in double
// quotes, unquoted and in an unquoted heredoc: each is printed as it is (an
// unquoted one split into words, as "$VAR" unquoted would be), never run.
func TestShellValuesAreNeverSyntax(t *testing.T) {
	t.Parallel()
	for name, v := range hostileValues {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			v := strings.ReplaceAll(v, "COUNTER", te.counter)
			f := te.flow(`
name: hostile
inputs:
  v: {type: string}
steps:
  quoted:
    kind: checkpoint
    run: printf '%s' "${{ inputs.v }}"
  unquoted:
    kind: checkpoint
    run: printf '[%s]' ${{ inputs.v }}
  heredoc:
    kind: checkpoint
    run: |
      set -u
      cat <<EOF
      ${{ inputs.v }}
      EOF
  answer:
    kind: llm
    prompt: ${{ inputs.v }}
  from_model:
    kind: checkpoint
    run: echo "${{ steps.answer.output }}" | wc -l | tr -d ' '; printf '%s' "${{ steps.answer.output }}"
`)
			run := te.start(f, map[string]any{"v": v})
			if _, err := os.Stat(filepath.Join(te.counter, "pwned")); err == nil {
				t.Fatalf("a value was run as a command: %q", v)
			}
			wantStatus(t, run, RunCompleted)
			if got := step(t, run, "quoted").Output; got != v {
				t.Errorf("in double quotes: %q, want %q", got, v)
			}
			words := ""
			for _, w := range strings.Fields(v) {
				words += "[" + w + "]"
			}
			if got := step(t, run, "unquoted").Output; got != words {
				t.Errorf("unquoted: %q, want the words %q", got, words)
			}
			if got := step(t, run, "heredoc").Output; got != v {
				t.Errorf("in a heredoc: %q, want %q", got, v)
			}
			// The fake model answers "answer to: " and the prompt.
			answer := "answer to: " + v
			if got, want := step(t, run, "from_model").Output, strconv.Itoa(strings.Count(answer, "\n")+1)+"\n"+answer; got != want {
				t.Errorf("a model's answer: %q, want %q", got, want)
			}
		})
	}
}
