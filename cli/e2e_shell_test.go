package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EShellInjection: the attack of issue 10 through the real binary.
// An input written to end the quotes of a run: command and start another
// one is printed by the command, on run and on replay (which loads the
// run's snapshot lazily), and never run.
func TestE2EShellInjection(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	pwned := filepath.Join(e.Dir, "pwned")
	flow := e.flow("greet.yaml", `name: greet
inputs:
  name: {type: string}
steps:
  hello:
    kind: checkpoint
    run: echo "hello ${{ inputs.name }}"
output: ${{ steps.hello.output }}
`)
	attack := `x"; touch ` + pwned + `; echo "`
	run := decodeRun(t, e.must(0, "run", flow, "--input", "name="+attack, "--json", "--quiet").Stdout)
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the input was run as a command")
	}
	if want := "hello " + attack; run.Output != want {
		t.Fatalf("output %q, want %q", run.Output, want)
	}
	attack = "$(touch " + pwned + ")`touch " + pwned + "`"
	replay := decodeRun(t, e.must(0, "replay", run.ID, "--input", "name="+attack, "--json", "--quiet").Stdout)
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the input of a replay was run as a command")
	}
	if want := "hello " + attack; replay.Output != want {
		t.Fatalf("replay output %q, want %q", replay.Output, want)
	}
}

// TestE2EValidateRefusesSingleQuotedExpressions: validate (and run) say
// where a ${{ }} would not expand and how to write it, and run nothing.
func TestE2EValidateRefusesSingleQuotedExpressions(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	flow := e.flow("quoted.yaml", `name: quoted
inputs:
  name: {type: string, default: world}
steps:
  hello:
    kind: checkpoint
    run: touch ran; echo 'hello ${{ inputs.name }}'
`)
	want := `quoted.yaml:7:33: step "hello" run: ${{ inputs.name }} is inside single quotes (opened at 7:26), where the shell expands no variables; write it in double quotes instead, e.g. "hello ${{ inputs.name }}"`
	for _, args := range [][]string{{"validate", flow}, {"run", flow}} {
		r := e.run(args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, want) {
			t.Errorf("kitaru %s: want exit 2 and %s, got %s", args[0], want, r)
		}
	}
	if e.count("ran") != 0 {
		t.Fatal("a flow that does not validate ran")
	}
}
