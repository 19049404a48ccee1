package engine

import (
	"fmt"
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

// TestShellValueLimits: inside $(( )) a number is arithmetic and anything
// else fails the step before sh sees it (bash would run the command in
// a[$(...)]); the largest value allowed reaches sh whole; a NUL byte or a
// larger value fails the step with a sentence.
func TestShellValueLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 131051)
	tests := []struct {
		name, v, output, err string
	}{
		{"a number", "41", "42 5", ""},
		{"an expression", "a[$(touch COUNTER/pwned)]", "", `step "sum" run: ${{ inputs.v }} is inside $(( )), where the shell evaluates its value as arithmetic, but it gave the string "a[$(touch `},
		{"a NUL byte", "1\x00", "", `gave text holding a NUL byte, which no shell variable can hold`},
		{"the largest value", big, "", ""},
		{"one byte more", big + "x", "", `gave 131052 bytes, more than the 131051 a value in a command may hold`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := newEnv(t)
			f := te.flow(`
name: limits
inputs:
  v: {type: string}
steps:
  sum:
    kind: checkpoint
    run: echo $(( ${{ inputs.v }} + 1 )) ${{ len(inputs.v) + 3 }}
    if: inputs.v == "41" || len(inputs.v) < 100
  size:
    kind: checkpoint
    if: len(inputs.v) >= 100
    run: printf %s "${{ inputs.v }}" | wc -c
`)
			v := strings.ReplaceAll(tt.v, "COUNTER", te.counter)
			run := te.start(f, map[string]any{"v": v})
			if _, err := os.Stat(filepath.Join(te.counter, "pwned")); err == nil {
				t.Fatal("a value was run as a command")
			}
			want := strings.ReplaceAll(tt.err, "COUNTER", te.counter)
			if want == "" {
				wantStatus(t, run, RunCompleted)
				if tt.output != "" && step(t, run, "sum").Output != tt.output {
					t.Errorf("output %q, want %q", step(t, run, "sum").Output, tt.output)
				}
				if len(v) >= 100 && strings.TrimSpace(step(t, run, "size").Output.(string)) != strconv.Itoa(len(v)) {
					t.Errorf("sh got %v bytes, want %d", step(t, run, "size").Output, len(v))
				}
				return
			}
			wantStatus(t, run, RunFailed)
			if run.Error == nil || !strings.Contains(*run.Error, want) {
				t.Errorf("run error %q, want %s", *run.Error, want)
			}
		})
	}
}

// TestShellVariablesWin: a variable of the same name in kitaru's own
// environment (a kitaru run inside a step of another) does not replace a
// value.
func TestShellVariablesWin(t *testing.T) {
	t.Setenv("KITARU_EXPR_1", "inherited")
	te := newEnv(t)
	f := te.flow("name: nested\nsteps:\n  a:\n    kind: checkpoint\n    run: echo \"${{ 'own' }}\" \"$KITARU_EXPR_1\"\n")
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if got := step(t, run, "a").Output; got != "own own" {
		t.Fatalf("output %q, want own own", got)
	}
}

// Values each small enough, but together larger than exec allows, fail the
// step naming their size and what to do instead, not with exec's words.
func TestShellValuesTooLargeTogether(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	var b strings.Builder
	for range 24 {
		b.WriteString(` "${{ steps.a.output }}"`)
	}
	f := te.flow(`
name: toomuch
steps:
  a:
    kind: checkpoint
    value: '${{ repeat("z", 120000) }}'
  b:
    kind: checkpoint
    run: echo` + b.String() + `
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	e := step(t, run, "b").Error
	if e == nil || !strings.Contains(*e, "larger than the system allows (its env: and the values of its ${{ }} come to 2880") || !strings.Contains(*e, "stdin:") {
		t.Errorf("error %v", e)
	}
}

// The same through env: the message counts what the step's env: holds.
func TestEnvValuesTooLargeTogether(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	var b strings.Builder
	for i := range 24 {
		fmt.Fprintf(&b, "      V%d: ${{ steps.a.output }}\n", i)
	}
	f := te.flow(`
name: toomuchenv
steps:
  a:
    kind: checkpoint
    value: '${{ repeat("z", 120000) }}'
  b:
    kind: checkpoint
    run: echo hi
    env:
` + b.String())
	run := te.start(f, nil)
	wantStatus(t, run, RunFailed)
	e := step(t, run, "b").Error
	if e == nil || !strings.Contains(*e, "(its env: and the values of its ${{ }} come to 28800") {
		t.Errorf("error %v", e)
	}
}
