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
	// Where bash (sh on macOS, Fedora, Arch) evaluates arithmetic.
	{`(( ${{ x }} > 0 )) && echo y`, []shellCtx{xArith}},
	{`if (( "${{ x }}" > 1 )); then echo y; fi; echo ${{ y }}`, []shellCtx{xArith, xOK}},
	{`for (( i = 0; i < ${{ x }}; i++ )); do echo $i; done`, []shellCtx{xArith}},
	{`x=$( (( ${{ x }} )) && echo y)`, []shellCtx{xArith}},
	{`echo $[ ${{ x }} + 1 ] "$[ ${{ y }} ]"`, []shellCtx{xArith, xArith}},
	{`let "y = ${{ x }} + 1" z=${{ y }}; echo $y ${{ z }}`, []shellCtx{xArith, xArith, xOK}},
	{`echo let ${{ x }}; let y=1 # ${{ y }}`, []shellCtx{xOK, xOK}},
	{`a[${{ x }}]=1; echo ${a[${{ y }}]} "${a["${{ z }}"]}"`, []shellCtx{xArith, xArith, xArith}},
	{`echo "a[${{ x }}]" ${{ y }}[1]`, []shellCtx{xOK, xOK}},
	{`v=hello; echo ${v:${{ x }}:2} "${v:1:${{ y }}}" ${v:-${{ z }}}`, []shellCtx{xArith, xArith, xOK}},
	{`echo ${v:-a:${{ x }}} ${v:=${{ y }}} ${v[1]: ${{ z }}}`, []shellCtx{xOK, xOK, xArith}},
	{`[[ ${{ x }} -eq 1 ]] && echo y`, []shellCtx{xArith}},
	{`[[ 1 -lt "${{ x }}" ]] && echo y`, []shellCtx{xArith}},
	{`[[ ${{ x }} == 1 && ${v:-${{ y }}} -ge 0 ]] || echo "${{ z }}"`, []shellCtx{xOK, xArith, xOK}},
	{`if [[ -v a[${{ x }}] || (${{ y }} -ne 2) ]]; then echo y; fi`, []shellCtx{xArith, xArith}},
	{`[ "${{ x }}" -eq 1 ] && test ${{ y }} -gt 0 && echo y`, []shellCtx{xOK, xOK}},
	{`echo [[ ${{ x }} -eq 1 ]]`, []shellCtx{xOK}},
	{`n=${{ x }}; (( n > 1 )) && echo y`, []shellCtx{xArith}},
	{`n="${{ x }}" m=${{ y }}; echo $(( $n + 1 )) $m`, []shellCtx{xArith, xOK}},
	{`n=${{ x }}; [[ $n -gt 1 ]] && echo y`, []shellCtx{xArith}},
	{`declare -i n; n=${{ x }}; echo $n`, []shellCtx{xArith}},
	{`m=${{ x }}; n=1; echo $((n)) $m`, []shellCtx{xOK}},
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
		{"n", "a[$(touch pwned)]", `step "n" run: ${{ inputs.v }} is inside $(( )), where the shell evaluates its value as arithmetic, but it gave the string "a[$(touch pwned)]", not a whole number; make it one (e.g. int(...)) or move it out of the arithmetic`},
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

// TestSingleQuoteSuggestion: for text echo prints, the rewriting a refused
// single-quoted ${{ }} suggests is accepted, and sh prints with it what
// the single-quoted text would have printed with the values written into
// it.
func TestSingleQuoteSuggestion(t *testing.T) {
	t.Parallel()
	for _, run := range []string{
		`echo 'hello ${{ x }}'`,
		`echo '.[] | select(.name == "${{ x }}") | $a'`,
		`echo '${{ x }}${{ y }} and \ ${{ x }}'`,
		`echo a; echo 'it is ` + "`${{ x }}`" + `'`,
	} {
		phs, _, _ := scanPlaceholders(run)
		places := scanShell(run, phs)
		msg := places[0].problem(run, phs, 0, func(int) string { return "1:1" })
		_, example, _ := strings.Cut(msg, "e.g. ")
		example, _, _ = strings.Cut(example, " (kitaru passes")
		if example == "" {
			t.Fatalf("%q: no rewriting suggested: %s", run, msg)
		}
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

// TestSingleQuotedProgramAdvice: single-quoted text given to a command
// other than echo is taken for that command's code (an awk program, a jq
// filter, SQL), where a value written in would be code too: the message
// says so and shows how to pass the value as data, and never suggests
// ending the quotes around it.
func TestSingleQuotedProgramAdvice(t *testing.T) {
	t.Parallel()
	tests := []struct{ run, want string }{
		{`echo | awk '{ print "hello ${{ x }}" }'`, `the quoted text is an awk program, and a value written into it is code awk runs (system(...)): pass it as an awk variable, e.g. awk -v v="${{ x }}" '... v ...'`},
		{`jq '.[] | select(.name == "${{ x }}")' f.json`, `the quoted text is a jq filter, and a value written into it is code jq runs: pass it as a variable of jq, e.g. jq --arg v "${{ x }}" '... $v ...'`},
		{`X=1 sed 's/a/${{ x }}/'`, `sed has no variables, so do it another way`},
		{`sqlite3 db 'select * from t where n = ${{ x }}'`, `the quoted text is SQL, and a value written into it is SQL sqlite3 runs: use the client's query parameters`},
		{`printf 'hi ${{ x }}\n'`, `pass it as an argument, e.g. printf '... %s ...' "${{ x }}"`},
		{`if true; then sh -c 'echo ${{ x }}'; fi`, `pass it as an argument, e.g. sh -c '... "$1" ...' sh "${{ x }}"`},
		{`python3 -c 'print("${{ x }}")'`, `the quoted text is a python3 program`},
		{`grep 'hello ${{ x }}' f`, `the quoted text is what grep reads, and if it is code (a jq filter, an awk or sed program, SQL, a script), a value written into it is code too and grep runs it: pass the value to it as data instead, e.g. jq --arg v "${{ x }}" '... $v ...', awk -v v="${{ x }}" '... v ...', a query parameter for SQL; only if grep takes it as plain text, write it in double quotes, e.g. "hello ${{ x }}"`},
		{`grep '^a.*${{ x }}$' f`, `the quoted text is what grep reads`},
		{`awk $'{ print "${{ x }}" }'`, `is inside $'...' quotes (opened at 1:1), where the shell expands no variables; the quoted text is an awk program`},
		{"python3 <<'EOF'\nprint('${{ x }}')\nEOF", `the here-document is what python3 reads, and if that is code (a script, SQL), a value written into it is code too and python3 runs it: pass the value as an argument`},
		{"cat <<'EOF'\n${{ x }}\nEOF", `write the delimiter unquoted, e.g. <<EOF (kitaru passes the value as a shell variable, so the shell runs nothing in it)`},
		// A command that runs another: the advice is for the one it runs.
		{`timeout 5 sh -c 'echo ${{ x }}'`, `the quoted text is a sh script`},
		{`env FOO=1 bash -c 'echo ${{ x }}'`, `the quoted text is a bash script`},
		{`nohup nice -n 5 perl -e 'print "${{ x }}"'`, `the quoted text is a perl program`},
		{`ssh host 'echo ${{ x }}'`, `ssh runs the quoted text as shell code`},
		{`eval 'echo ${{ x }}'`, `eval runs the quoted text as shell code`},
		// Text printed into an interpreter is that interpreter's code.
		{`echo 'echo ${{ x }}' | sh`, `the quoted text is a sh script`},
		{`printf 'print("${{ x }}")' | python3`, `the quoted text is a python3 program`},
	}
	for _, tt := range tests {
		phs, _, _ := scanPlaceholders(tt.run)
		places := scanShell(tt.run, phs)
		msg := places[0].problem(tt.run, phs, 0, func(int) string { return "1:1" })
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%q:\n got %s\nwant %s", tt.run, msg, tt.want)
		}
		for _, bad := range []string{`'"${{`, "safe", "runs nothing"} {
			if strings.Contains(msg, bad) && !(bad == "runs nothing" && strings.HasPrefix(tt.run, "cat ")) {
				t.Errorf("%q: the advice holds %q: %s", tt.run, bad, msg)
			}
		}
	}
}

// TestProgramAdviceHoldsHostileValues: the rewritings the advice shows,
// run by real sh with a value written to break out of the program, print
// the value and run nothing. With the quotes ended around the value (the
// old advice), awk ran the value's system().
func TestProgramAdviceHoldsHostileValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hostile := `x"; system("touch ` + dir + `/pwned"); print "`
	tests := []struct {
		tool, run string
		spliced   bool // the old advice: the value ends the quotes and joins the program
	}{
		{"awk", `echo | awk '{ print "hello '"${{ inputs.v }}"'" }'`, true},
		{"awk", `echo | awk -v v="${{ inputs.v }}" '{ print "hello " v }'`, false},
		{"jq", `echo '{}' | jq -r --arg v "${{ inputs.v }}" '"hello " + $v'`, false},
		{"sh", `sh -c 'echo "hello $1"' sh "${{ inputs.v }}"`, false},
		{"printf", `printf 'hello %s\n' "${{ inputs.v }}"`, false},
	}
	for _, tt := range tests {
		if _, err := exec.LookPath(tt.tool); err != nil {
			t.Logf("no %s here", tt.tool)
			continue
		}
		f, err := Parse("s.yaml", []byte("name: s\ninputs:\n  v: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    run: |\n      "+tt.run+"\n"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.tool, err)
		}
		script, env, err := f.Step("a").Checkpoint.Run.Shell(&Scope{Inputs: map[string]any{"v": hostile}})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		_, serr := os.Stat(dir + "/pwned")
		os.Remove(dir + "/pwned")
		if tt.spliced {
			if serr != nil {
				t.Errorf("%s: the value spliced into the program ran nothing; this case no longer shows why the advice changed", tt.run)
			}
			continue
		}
		if err != nil || strings.TrimSpace(string(out)) != "hello "+hostile {
			t.Errorf("%s: printed %q (%v), want hello and the value", tt.tool, out, err)
		}
		if serr == nil {
			t.Errorf("%s ran the value", tt.run)
		}
	}
}

// TestBashArithmeticIsChecked runs each place where bash evaluates text as
// arithmetic in real bash (as itself and as sh, --posix) and dash: a
// whole number works there; a value that would run a command through a
// subscript fails the step before any shell starts, and without that
// check bash does run it, so each case is a real hole. The test builtin
// ([ ] and test) takes only integers in both shells: no check is needed
// there and none is made.
func TestBashArithmeticIsChecked(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash here")
	}
	shells := [][]string{{"bash"}, {"bash", "--posix"}}
	if _, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, []string{"dash"})
	}
	tests := []struct {
		run   string
		arith bool // bash evaluates the value as arithmetic
		out   string
	}{
		{`if (( ${{ inputs.v }} > 1 )); then echo big; fi`, true, "big"},
		{`(( "${{ inputs.v }}" )) && echo set`, true, "set"},
		{`for (( i = 0; i < ${{ inputs.v }}; i++ )); do printf .; done`, true, ".."},
		{`[[ ${{ inputs.v }} -gt 1 ]] && echo big`, true, "big"},
		{`[[ 1 -le "${{ inputs.v }}" && x == x ]] && echo big`, true, "big"},
		{`let "n = ${{ inputs.v }} + 1"; echo $n`, true, "3"},
		{`echo $[ ${{ inputs.v }} + 1 ]`, true, "3"},
		{`a=(x y z); echo "${a[${{ inputs.v }}]}"`, true, "z"},
		{`a[${{ inputs.v }}]=1; echo ${#a[@]}`, true, "1"},
		{`v=hello; echo "${v:${{ inputs.v }}}"`, true, "llo"},
		{`v=hello; echo ${v:0:${{ inputs.v }}}`, true, "he"},
		{`echo $(( ${{ inputs.v }} + 1 ))`, true, "3"},
		{`n="${{ inputs.v }}"; if (( n > 1 )); then echo big; fi`, true, "big"},
		{`n=${{ inputs.v }}; [[ $n -ge 2 ]] && echo big`, true, "big"},
		{`declare -i n; n=${{ inputs.v }}; echo $n`, true, "2"},
		{`n=${{ inputs.v }}; echo $((n * 2))`, true, "4"},
		{`[ "${{ inputs.v }}" -eq 2 ] && echo two`, false, "two"},
		{`test ${{ inputs.v }} -gt 1 && echo big`, false, "big"},
	}
	for _, tt := range tests {
		f, err := Parse("s.yaml", []byte("name: s\ninputs:\n  v: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    run: |\n      "+tt.run+"\n"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.run, err)
		}
		run := f.Step("a").Checkpoint.Run
		dir := t.TempDir()
		hostile := "a[$(touch " + dir + "/pwned)]"
		shell := func(sh []string, script string, env []string) (string, error) {
			cmd := exec.Command(sh[0], append(sh[1:], "-c", script)...)
			cmd.Env, cmd.Dir = append(os.Environ(), env...), dir
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}
		pwned := func() bool {
			_, err := os.Stat(dir + "/pwned")
			os.Remove(dir + "/pwned")
			return err == nil
		}

		script, env, err := run.Shell(&Scope{Inputs: map[string]any{"v": "2"}})
		if err != nil {
			t.Fatalf("%s with 2: %v", tt.run, err)
		}
		for _, sh := range shells {
			out, err := shell(sh, script, env)
			if sh[0] == "bash" && (err != nil || out != tt.out) {
				t.Errorf("%s: %s with 2 printed %q (%v), want %q", sh, tt.run, out, err, tt.out)
			}
		}

		_, _, err = run.Shell(&Scope{Inputs: map[string]any{"v": hostile}})
		switch {
		case tt.arith && (err == nil || !strings.Contains(err.Error(), "as arithmetic") || !strings.Contains(err.Error(), ", but it gave the string")):
			t.Errorf("%s with %s: got %v, want the step to fail as not a whole number", tt.run, hostile, err)
		case !tt.arith && err != nil:
			t.Errorf("%s with %s: %v", tt.run, hostile, err)
		}
		// Bypassing the check: what each shell would do with the value.
		for _, sh := range shells {
			_, _ = shell(sh, script, []string{ShellVarPrefix + "1=" + hostile})
			ran := pwned()
			if want := tt.arith && sh[0] == "bash"; ran != want {
				t.Errorf("%s: %s with %s: ran the command: %v, want %v", sh, tt.run, hostile, ran, want)
			}
		}
	}
}

// TestValuesReachingArithmeticAnotherWay: a value that reaches bash's
// arithmetic by a path the scanner does not follow (a copy, set --, a
// function, read, a loop) is not checked as a number, but where the
// command does arithmetic anywhere a value holding a subscript that runs a
// command is refused; a command without arithmetic prints it as it is.
func TestValuesReachingArithmeticAnotherWay(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash here")
	}
	tests := []struct {
		run string
		out string // with the value 2, in bash
	}{
		{`v=${{ inputs.v }}; w=$v; echo $(( w + 1 ))`, "3"},
		{`set -- "${{ inputs.v }}"; echo $(( $1 + 1 ))`, "3"},
		{`f(){ echo $(( $1 + 1 )); }; f "${{ inputs.v }}"`, "3"},
		{`for v in "${{ inputs.v }}"; do echo $((v+1)); done`, "3"},
		{`read -r v <<< "${{ inputs.v }}"; echo $(( v + 1 ))`, "3"},
		{`mapfile -t a <<< "${{ inputs.v }}"; echo $(( a[0] ))`, "2"},
		{`v=$(echo "${{ inputs.v }}"); echo $((v))`, "2"},
		{`declare -a arr=([${{ inputs.v }}]=1); echo ${#arr[@]}`, "1"},
		{`arr=(); arr+=([${{ inputs.v }}]=1); echo ${#arr[@]}`, "1"},
	}
	for _, tt := range tests {
		f, err := Parse("s.yaml", []byte("name: s\ninputs:\n  v: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    run: |\n      "+tt.run+"\n"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.run, err)
		}
		run := f.Step("a").Checkpoint.Run
		dir := t.TempDir()
		bash := func(script string, env []string) string {
			cmd := exec.Command("bash", "-c", script)
			cmd.Env, cmd.Dir = append(os.Environ(), env...), dir
			out, _ := cmd.CombinedOutput()
			return strings.TrimSpace(string(out))
		}
		script, env, err := run.Shell(&Scope{Inputs: map[string]any{"v": "2"}})
		if err != nil {
			t.Fatalf("%s with 2: %v", tt.run, err)
		}
		if out := bash(script, env); out != tt.out {
			t.Errorf("%s with 2 printed %q, want %q", tt.run, out, tt.out)
		}
		hostile := "a[$(touch " + dir + "/pwned)]"
		if _, _, err := run.Shell(&Scope{Inputs: map[string]any{"v": hostile}}); err == nil || !strings.Contains(err.Error(), "which holds an array subscript that runs a command") {
			t.Errorf("%s with %s: %v, want the step to fail", tt.run, hostile, err)
		}
		// Bypassing the check: bash does run it, so the check is needed.
		bash(script, []string{ShellVarPrefix + "1=" + hostile})
		if _, err := os.Stat(dir + "/pwned"); err != nil {
			t.Errorf("%s: bash did not run the value's command even unchecked; the case proves nothing", tt.run)
		}
	}
	// Without arithmetic such a value is text like any other.
	f, err := Parse("s.yaml", []byte("name: s\ninputs:\n  v: {type: string}\nsteps:\n  a:\n    kind: checkpoint\n    run: echo \"${{ inputs.v }}\"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Step("a").Checkpoint.Run.Shell(&Scope{Inputs: map[string]any{"v": "x[$(id)]"}}); err != nil {
		t.Errorf("a command without arithmetic refused a value: %v", err)
	}
}
