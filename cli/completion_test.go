package cli

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

type fakeNames struct{}

func (fakeNames) Runs(context.Context) []string { return []string{"last", "kr-aaa", "kr-abb"} }
func (fakeNames) Steps(_ context.Context, run string) []string {
	if run == "kr-aaa" {
		return []string{"draft", "review"}
	}
	return nil
}
func (fakeNames) Aliases() []string { return []string{"fast", "smart"} }
func (fakeNames) Secrets() []string { return []string{"openai-creds"} }

func TestCompletions(t *testing.T) {
	t.Parallel()
	var cli root
	parser, err := kong.New(&cli, kong.Name("kitaru"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		words string // split on spaces; a trailing space is a new, empty word
		want  []string
	}{
		{"re", []string{"replay", "resume", "retry"}},
		{"--json ru", []string{"run"}},
		{"executions g", []string{"get"}},
		{"executions get kr-a", []string{"kr-aaa", "kr-abb"}},
		{"executions get kr-aaa --st", []string{"--store", "--step"}}, // --store is global
		{"executions list --status f", []string{"failed"}},
		{"executions list --status=f", nil}, // the value is in the word: nothing after it
		{"input kr-aaa ", []string{"draft", "review"}},
		{"replay kr-aaa --from ", []string{"draft", "review"}},
		{"executions get kr-aaa --step r", []string{"review"}},
		{"input kr-aaa --value 1 ", []string{"draft", "review"}},
		{"run ", []string{fileCandidates}},
		{"init ", []string{fileCandidates}},
		{"replay last --flow ", []string{fileCandidates}},
		{"model remove ", []string{"fast", "smart"}},
		{"secrets show o", []string{"openai-creds"}},
		{"completion ", []string{"bash", "zsh", "fish"}},
		{"status ", nil},
	} {
		words := strings.Split(tt.words, " ")
		got := completions(context.Background(), parser.Model.Node, words, fakeNames{})
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("complete %q = %q, want %q", tt.words, got, tt.want)
		}
	}
}

// TestBashCompletion loads the bash script into a real bash and completes
// through the built binary.
func TestBashCompletion(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	e := newE2E(t)
	f := e.flow("f.yaml", "name: f\nsteps:\n  only: {kind: checkpoint, run: echo hi}\n")
	id := announcedID(t, e.must(0, "run", f, "--quiet").Stdout)
	script := e.must(0, "completion", "bash").Stdout
	for _, tt := range []struct {
		line string
		want string
	}{
		{"kitaru execu", "executions"},
		{"kitaru executions get " + id[:4], id},
		{"kitaru input " + id + " ", "only"},
		{"kitaru run f.", "f.yaml"},
	} {
		words := strings.Fields(tt.line)
		if strings.HasSuffix(tt.line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shellQuote(w))
		}
		prog := script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_kitaru\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Env = append(e.Env[:len(e.Env):len(e.Env)], "PATH="+filepath.Dir(e.bin)+":/usr/bin:/bin")
		cmd.Dir = e.Dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains("\n"+string(out), "\n"+tt.want+"\n") {
			t.Errorf("bash completes %q to %q (%v), want %s among them", tt.line, out, err, tt.want)
		}
	}
}

// TestCompletionScriptsParse: each script is valid for its shell, where
// the shell is installed.
func TestCompletionScriptsParse(t *testing.T) {
	t.Parallel()
	for shell, check := range map[string][]string{"bash": {"-n"}, "zsh": {"-n"}, "fish": {"--no-execute"}} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		cmd := exec.Command(path, check...)
		cmd.Stdin = strings.NewReader(completionScripts[shell])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not parse its completion script: %v\n%s", shell, err, out)
		}
	}
}
