package flowspec

import (
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Short names for the table.
const (
	xOK    = shExpands
	xArith = shArith
	xSQ    = shSingle
	xDSQ   = shDollarSingle
	xQDoc  = shQuotedHeredoc
	xEsc   = shEscaped
	xDelim = shDelimiter
)

// shellCases are commands and how sh reads the place of each ${{ }}.

var shellCases = []struct {
	run  string
	want []shellCtx
}{
	{`echo "${{ x }}"`, []shellCtx{xOK}},
	{`echo ${{ x }}`, []shellCtx{xOK}},
	{`${{ x }}`, []shellCtx{xOK}},
	{`echo '${{ x }}'`, []shellCtx{xSQ}},
	{`echo 'a'${{ x }}'b'`, []shellCtx{xOK}},
	{`echo "it's ${{ x }}"`, []shellCtx{xOK}},
	{`echo 'say "hi"' "${{ x }}" '${{ y }}'`, []shellCtx{xOK, xSQ}},
	{"echo 'a\nb' ${{ x }}\necho '\n${{ y }}'", []shellCtx{xOK, xSQ}},
	{`echo $'a\' ${{ x }}'`, []shellCtx{xDSQ}},
	{`echo "$'${{ x }}'"`, []shellCtx{xOK}},
	{`echo $(( ${{ x }} + 1 ))`, []shellCtx{xArith}},
	{`echo $(( (${{ x }} + 1) * 2 )) ${{ y }}`, []shellCtx{xArith, xOK}},
	{`echo "$(( ${{ x }} ))"`, []shellCtx{xArith}},
	{`echo $(( $(echo ${{ x }}) + 1 ))`, []shellCtx{xOK}},
	{`echo $(echo '${{ x }}') ${{ y }}`, []shellCtx{xSQ, xOK}},
	{`echo $(echo "$(printf %s ${{ x }})")`, []shellCtx{xOK}},
	{"echo `echo ${{ x }}`", []shellCtx{xOK}},
	{"echo `echo '${{ x }}'` ${{ y }}", []shellCtx{xSQ, xOK}},
	{"echo `echo \\${{ x }}`", []shellCtx{xOK}},
	{`echo \${{ x }}`, []shellCtx{xEsc}},
	{`echo "\${{ x }}"`, []shellCtx{xEsc}},
	{`echo "\\${{ x }}"`, []shellCtx{xOK}},
	{`echo \\${{ x }}`, []shellCtx{xOK}},
	{`echo "\a${{ x }}"`, []shellCtx{xOK}},
	{"# note ${{ x }}\necho '${{ y }}'", []shellCtx{xOK, xSQ}},
	{"echo a # it's ${{ x }}\necho ${{ y }}", []shellCtx{xOK, xOK}},
	{`echo a#'${{ x }}'`, []shellCtx{xSQ}},
	{"cat <<EOF\n${{ x }}\nEOF", []shellCtx{xOK}},
	{"cat <<EOF\nit's \"${{ x }}\"\n'${{ y }}'\nEOF", []shellCtx{xOK, xOK}},
	{"cat <<EOF\n$(( ${{ x }} ))\nEOF", []shellCtx{xArith}},
	{"cat <<EOF\n\\${{ x }} \\\\${{ y }}\nEOF", []shellCtx{xEsc, xOK}},
	{"cat <<'EOF'\n${{ x }}\nEOF\necho ${{ y }}", []shellCtx{xQDoc, xOK}},
	{"cat <<\"EOF\"\n${{ x }}\nEOF", []shellCtx{xQDoc}},
	{"cat <<\\EOF\n${{ x }}\nEOF", []shellCtx{xQDoc}},
	{"cat <<E'O'F\n${{ x }}\nEOF", []shellCtx{xQDoc}},
	{"cat << 'EOF' | cat\n${{ x }}\nEOF", []shellCtx{xQDoc}},
	{"cat <<-EOF\n\t${{ x }}\n\tEOF\necho '${{ y }}'", []shellCtx{xOK, xSQ}},
	{"cat <<'A'; cat <<B\n${{ x }}\nA\n${{ y }}\nB\necho '${{ z }}'", []shellCtx{xQDoc, xOK, xSQ}},
	{"cat <<'EOF'\nEOF\necho ${{ x }}", []shellCtx{xOK}},
	{"cat <<'EOF'\nno end ${{ x }}", []shellCtx{xQDoc}},
	{"cat <<EOF # it's\n${{ x }}\nEOF", []shellCtx{xOK}},
	{"echo \"<<'EOF'\"\necho ${{ x }}", []shellCtx{xOK}},
	{`cat <<<'${{ x }}'; cat <<<"${{ y }}"`, []shellCtx{xSQ, xOK}},
	{"cat <<${{ x }}\nbody\n", []shellCtx{xDelim}},
	{`echo ${v:-${{ x }}}`, []shellCtx{xOK}},
	{`echo ${v:-'${{ x }}'}`, []shellCtx{xSQ}},
	{`echo "${v:-'${{ x }}'}"`, []shellCtx{xOK}},
	{`echo ${{ "it's" }} '${{ y }}' ${{ "'" }}`, []shellCtx{xOK, xSQ, xOK}},
	{`echo ${{ "}}" }}'${{ y }}'`, []shellCtx{xOK, xSQ}},
	{`echo "${{ x }}" | sed 's/a/b/'; echo '${{ y }}'`, []shellCtx{xOK, xSQ}},
	{`echo ) ) '${{ x }}'`, []shellCtx{xSQ}},
}

// TestScanShell: how sh reads the place of each ${{ }} in a command.
func TestScanShell(t *testing.T) {
	t.Parallel()
	for _, tt := range shellCases {
		phs, _, err := scanPlaceholders(tt.run)
		if err != nil {
			t.Fatalf("%q: %v", tt.run, err)
		}
		var got []shellCtx
		for _, p := range scanShell(tt.run, phs) {
			got = append(got, p.ctx)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.run, got, tt.want)
		}
	}
}

// TestScanShellAgreesWithSh runs each of shellCases in real shells, each
// ${{ }} replaced by its variable: a variable the scanner says expands is
// expanded, one it refuses is left as text. Cases sh rejects, or whose
// variables are not printed (comments, a delimiter), say nothing and are
// skipped; enough must remain.
func TestScanShellAgreesWithSh(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("no %s here", shell)
			continue
		}
		checked := 0
		for _, tt := range shellCases {
			if strings.Contains(tt.run, "#") || slices.Contains(tt.want, xDelim) || shell == "sh" && strings.Contains(tt.run, "<<<") {
				continue
			}
			phs, _, _ := scanPlaceholders(tt.run)
			script, env := tt.run, os.Environ()
			for i := len(phs) - 1; i >= 0; i-- {
				name := ShellVarPrefix + strconv.Itoa(i+1)
				script = script[:phs[i].start] + "${" + name + "}" + script[phs[i].end:]
				env = append(env, name+"=1")
			}
			cmd := exec.Command(shell, "-c", script)
			cmd.Env, cmd.Dir = env, t.TempDir()
			out, err := cmd.Output()
			if err != nil {
				t.Logf("SKIP %s %q: %v", shell, tt.run, err)
				continue
			}
			checked++
			for i, ctx := range tt.want {
				expanded := !strings.Contains(string(out), ShellVarPrefix+strconv.Itoa(i+1))
				if want := ctx == xOK || ctx == xArith; expanded != want {
					t.Errorf("%s %q: ${{ }} number %d expanded: %v; the scanner says %v (output %q)", shell, tt.run, i+1, expanded, want, out)
				}
			}
		}
		t.Logf("%s agrees on %d of %d cases", shell, checked, len(shellCases))
		if checked < len(shellCases)*2/3 {
			t.Errorf("%s ran only %d of %d cases", shell, checked, len(shellCases))
		}
	}
}

// TestShellForm: the script replaces each ${{ }} by a variable, and each
// variable's value is the text the template would have rendered there.
func TestShellForm(t *testing.T) {
	t.Parallel()
	src := "name: s\ninputs:\n  v: {type: object}\nsteps:\n  a:\n    kind: checkpoint\n    run: |\n      echo \"${{ inputs.v }}\" ${{ inputs.v.n }}x\n      cat <<EOF\n      ${{ inputs.v.list }}${{ inputs.v.none }}\n      EOF\n"
	values := []map[string]any{
		{"n": 2, "list": []any{1, "b"}, "none": nil},
		{"n": 2.5, "list": map[string]any{"k": "<v>"}, "none": true},
		{"n": "x\"; touch y; \"", "list": "$(id)", "none": "`id`"},
	}
	for _, lazy := range []bool{false, true} {
		f, err := Parse("s.yaml", []byte(src), Options{Lazy: lazy})
		if err != nil {
			t.Fatal(err)
		}
		run := f.Step("a").Checkpoint.Run
		for _, v := range values {
			sc := &Scope{Inputs: map[string]any{"v": v}}
			script, env, err := run.Shell(sc)
			if err != nil {
				t.Fatal(err)
			}
			if want := "echo \"${KITARU_EXPR_1}\" ${KITARU_EXPR_2}x\ncat <<EOF\n${KITARU_EXPR_3}${KITARU_EXPR_4}\nEOF\n"; script != want {
				t.Errorf("lazy %v: script %q, want %q", lazy, script, want)
			}
			want := []string{
				"KITARU_EXPR_1=" + FormatValue(v),
				"KITARU_EXPR_2=" + FormatValue(v["n"]),
				"KITARU_EXPR_3=" + FormatValue(v["list"]),
				"KITARU_EXPR_4=" + FormatValue(v["none"]),
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("lazy %v: env %q, want %q", lazy, env, want)
			}
			// The values are what pasting would have produced.
			pasted, err := run.Render(sc)
			if err != nil {
				t.Fatal(err)
			}
			expanded := script
			for i := len(env) - 1; i >= 0; i-- {
				name, val, _ := strings.Cut(env[i], "=")
				expanded = strings.ReplaceAll(expanded, "${"+name+"}", val)
			}
			if expanded != pasted {
				t.Errorf("lazy %v: values expand to %q, pasting gave %q", lazy, expanded, pasted)
			}
		}
	}
}

// TestShellValueErrors: a value that no variable can carry, or that sh
// would evaluate as arithmetic, fails the step with a sentence.
func TestShellValueErrors(t *testing.T) {
	t.Parallel()
	src := "name: s\ninputs:\n  v: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    run: echo \"${{ inputs.v }}\"\n  n:\n    kind: checkpoint\n    run: echo $(( ${{ inputs.v }} + 1 ))\n  plain:\n    kind: checkpoint\n    run: echo hi\n"
	f, err := Parse("s.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		step, value, err string
	}{
		{"a", "a\x00b", `step "a" run: ${{ inputs.v }} gave text holding a NUL byte, which no shell variable can hold; pass such data through stdin: or a file`},
		{"a", strings.Repeat("x", 200000), `step "a" run: ${{ inputs.v }} gave 200000 bytes, more than the 131051 a value in a command may hold (the most an environment variable can hold on Linux); pass it through stdin: instead`},
		{"a", strings.Repeat("x", maxShellValue), ""},
		{"n", "a[$(touch pwned)]", `step "n" run: ${{ inputs.v }} is inside $(( )), where the shell evaluates its value as arithmetic, but it gave the string "a[$(touch pwned)]", not a whole number; make it one (e.g. int(...)) or move it out of $(( ))`},
		{"n", "HOME", `not a whole number`},
		{"n", "1+1", `not a whole number`},
		{"n", "", `not a whole number`},
		{"n", " 42\n", ""},
		{"n", "-7", ""},
		{"n", "--7", `not a whole number`},
		{"n", "0x1F", ""},
		{"plain", "$(x)", ""},
	}
	for _, tt := range tests {
		_, _, err := f.Step(tt.step).Checkpoint.Run.Shell(&Scope{Inputs: map[string]any{"v": tt.value}})
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s with %.20q: %v", tt.step, tt.value, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s with %.20q: got %v, want %s", tt.step, tt.value, err, tt.err)
		}
	}
}

// TestShellVarPrefixIsReserved: env: cannot shadow a ${{ }}'s variable.
func TestShellVarPrefixIsReserved(t *testing.T) {
	t.Parallel()
	_, err := Parse("s.yaml", []byte("name: s\nsteps:\n  a:\n    kind: checkpoint\n    run: echo \"${{ 1 }}\"\n    env: {KITARU_EXPR_1: x}\n"), Options{})
	want := `s.yaml:6:11: step "a": KITARU_EXPR_1 is a name kitaru gives the values of ${{ }} in run:; choose a name that does not start with KITARU_EXPR_`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// FuzzScanShell checks that no command makes the shell scanner panic or
// hang, and that it places every ${{ }}.
func FuzzScanShell(f *testing.F) {
	for _, tt := range shellCases {
		f.Add(tt.run)
	}
	f.Fuzz(func(t *testing.T, run string) {
		phs, _, err := scanPlaceholders(run)
		if err != nil {
			return
		}
		places := scanShell(run, phs)
		if len(places) != len(phs) {
			t.Fatalf("%d places for %d placeholders", len(places), len(phs))
		}
		for i, p := range places {
			if p.ctx != shExpands && p.ctx != shArith && (p.open < 0 || p.open > phs[i].start) {
				t.Fatalf("placeholder %d: opened at %d, after it (%d)", i, p.open, phs[i].start)
			}
			_ = p.problem(run, phs, i, func(int) string { return "1:1" })
		}
	})
}

// TestSingleQuoteSuggestion: the rewriting a refused single-quoted ${{ }}
// suggests is accepted, and sh prints with it what the single-quoted text
// would have printed with the values written into it.
func TestSingleQuoteSuggestion(t *testing.T) {
	t.Parallel()
	for _, run := range []string{
		`echo 'hello ${{ x }}'`,
		`echo '.[] | select(.name == "${{ x }}") | $a'`,
		`echo '${{ x }}${{ y }} and \ ${{ x }}'`,
		`printf '%s\n' 'it is ` + "`${{ x }}`" + `'`,
	} {
		phs, _, _ := scanPlaceholders(run)
		places := scanShell(run, phs)
		msg := places[0].problem(run, phs, 0, func(int) string { return "1:1" })
		_, example, _ := strings.Cut(msg, "e.g. ")
		example, _, _ = strings.Cut(example, " (kitaru passes")
		fixed := run[:places[0].open] + example + run[places[0].close+1:]
		phs2, _, _ := scanPlaceholders(fixed)
		script, env := fixed, os.Environ()
		for i, p := range scanShell(fixed, phs2) {
			if p.ctx != xOK {
				t.Errorf("%q suggests %q, where ${{ }} number %d still does not expand", run, fixed, i+1)
			}
		}
		for i := len(phs2) - 1; i >= 0; i-- {
			name := ShellVarPrefix + strconv.Itoa(i+1)
			script = script[:phs2[i].start] + "${" + name + "}" + script[phs2[i].end:]
			env = append(env, name+"=V"+strings.TrimSpace(fixed[phs2[i].exprStart:phs2[i].exprEnd]))
		}
		intended := run
		for i := len(phs) - 1; i >= 0; i-- {
			intended = intended[:phs[i].start] + "V" + strings.TrimSpace(run[phs[i].exprStart:phs[i].exprEnd]) + intended[phs[i].end:]
		}
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = env
		got, err := cmd.Output()
		want, werr := exec.Command("sh", "-c", intended).Output()
		if err != nil || werr != nil || string(got) != string(want) {
			t.Errorf("%q suggests %q, which prints %q (%v), not %q (%v)", run, fixed, got, err, want, werr)
		}
	}
}
