package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/keyring"
)

// Shell completion: the scripts are small wrappers that ask the binary
// itself (`kitaru __complete WORDS...`) what may come next, so they never
// fall out of step with the commands, and run ids, steps, aliases and
// secrets come from this machine.

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints a script that makes the shell complete kitaru's commands, flags,
run ids, step names, aliases and secret names. Load it from your shell's
start-up file.

Examples:

    echo 'source <(kitaru completion bash)' >> ~/.bashrc
    kitaru completion zsh > "${fpath[1]}/_kitaru"
    kitaru completion fish > ~/.config/fish/completions/kitaru.fish`
}

func (c *completionCmd) Run(stdio *IO) error {
	_, err := fmt.Fprint(stdio.Stdout, completionScripts[c.Shell])
	return err
}

// fileCandidates is what __complete prints alone when the word is a file
// name: the script hands over to the shell's own file completion.
const fileCandidates = ":files"

var completionScripts = map[string]string{
	"bash": `# kitaru completion for bash: source <(kitaru completion bash)
_kitaru() {
    local cur=${COMP_WORDS[COMP_CWORD]} out
    out=$(kitaru __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    if [[ $out == ` + fileCandidates + ` ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
    fi
    mapfile -t COMPREPLY <<<"$out"
    [[ -z $out ]] && COMPREPLY=()
}
complete -F _kitaru kitaru
`,
	"zsh": `#compdef kitaru
# kitaru completion for zsh: kitaru completion zsh > "${fpath[1]}/_kitaru"
_kitaru() {
    local out
    out=$(kitaru __complete "${(@)words[2,CURRENT]}" 2>/dev/null)
    if [[ $out == ` + fileCandidates + ` ]]; then
        _files
        return
    fi
    local -a cands
    cands=(${(f)out})
    compadd -- $cands
}
if [[ $funcstack[1] == _kitaru ]]; then _kitaru "$@"; else compdef _kitaru kitaru; fi
`,
	"fish": `# kitaru completion for fish: kitaru completion fish > ~/.config/fish/completions/kitaru.fish
function __kitaru_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (kitaru __complete $words[2..-1] 2>/dev/null)
    if test "$out" = "` + fileCandidates + `"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c kitaru -f -a '(__kitaru_complete)'
`,
}

// completeCmd answers the scripts: the words typed so far, the last one
// the word being completed ("" for a new one).
type completeCmd struct {
	Words []string `arg:"" optional:"" passthrough:""`
}

func (c *completeCmd) Run(ctx context.Context, kctx *kong.Context, stdio *IO) error {
	for _, w := range completions(ctx, kctx.Model.Node, c.Words, machineNames{}) {
		fmt.Fprintln(stdio.Stdout, w)
	}
	return nil
}

// names are what completion reads of this machine.
type names interface {
	Runs(ctx context.Context) []string
	Steps(ctx context.Context, run string) []string
	Aliases() []string
	Secrets() []string
}

// completions is what may take the place of the last of words, starting
// with what it already has.
func completions(ctx context.Context, root *kong.Node, words []string, have names) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, done := words[len(words)-1], words[:len(words)-1]
	node, args := root, []string{}
	var valueOf *kong.Flag // the flag whose value cur is
	for i := 0; i < len(done); i++ {
		w := done[i]
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "-") && w != "-" {
			f := findFlag(node, w)
			if f != nil && !f.IsBool() && !f.IsCounter() && !strings.Contains(w, "=") {
				if i == len(done)-1 {
					valueOf = f
				}
				i++ // its value
			}
			continue
		}
		if child := findChild(node, w); child != nil && len(args) == 0 {
			node = child
			continue
		}
		args = append(args, w)
	}
	var out []string
	switch {
	case valueOf != nil && (valueOf.Name == "from" || valueOf.Name == "step") && len(args) > 0 && len(node.Positional) > 0 && strings.HasPrefix(node.Positional[0].Name, "run"):
		out = have.Steps(ctx, args[0]) // --from and --step name a step of the run given
	case valueOf != nil:
		out = flagValues(valueOf)
	case strings.HasPrefix(cur, "-"):
		for _, group := range node.AllFlags(true) {
			for _, f := range group {
				out = append(out, "--"+f.Name)
			}
		}
	case len(args) == 0 && hasCommands(node):
		for _, ch := range node.Children {
			if !ch.Hidden {
				out = append(out, ch.Name)
			}
		}
	case len(args) < len(node.Positional):
		out = positionalValues(ctx, node, node.Positional[len(args)], args, have)
	case len(node.Positional) > 0 && node.Positional[len(node.Positional)-1].IsCumulative():
		out = positionalValues(ctx, node, node.Positional[len(node.Positional)-1], args, have)
	}
	if len(out) == 1 && out[0] == fileCandidates {
		return out
	}
	var fit []string
	for _, w := range out {
		if strings.HasPrefix(w, cur) {
			fit = append(fit, w)
		}
	}
	return fit
}

func hasCommands(n *kong.Node) bool {
	for _, ch := range n.Children {
		if ch.Type == kong.CommandNode {
			return true
		}
	}
	return false
}

func findChild(n *kong.Node, w string) *kong.Node {
	for _, ch := range n.Children {
		if ch.Type == kong.CommandNode && (ch.Name == w || slices.Contains(ch.Aliases, w)) {
			return ch
		}
	}
	return nil
}

func findFlag(n *kong.Node, w string) *kong.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	for _, group := range n.AllFlags(false) {
		for _, f := range group {
			if f.Name == name || (len(name) == 1 && f.Short == rune(name[0]) && !strings.HasPrefix(w, "--")) {
				return f
			}
		}
	}
	return nil
}

// flagValues are a flag's choices: its enum, or files for one that takes
// a file.
func flagValues(f *kong.Flag) []string {
	if f.Enum != "" {
		return slices.DeleteFunc(f.EnumSlice(), func(s string) bool { return s == "" })
	}
	if f.PlaceHolder == "FILE" || f.Name == "flow" {
		return []string{fileCandidates}
	}
	return nil
}

// positionalValues are the choices for argument p of command n, given the
// arguments before it.
func positionalValues(ctx context.Context, n *kong.Node, p *kong.Positional, before []string, have names) []string {
	switch {
	case p.Enum != "":
		return p.EnumSlice()
	case p.Name == "flow" || p.Name == "file":
		return []string{fileCandidates}
	case strings.HasPrefix(p.Name, "run"):
		return have.Runs(ctx)
	case p.Name == "step" && len(before) > 0:
		return have.Steps(ctx, before[0])
	case p.Name == "alias":
		return have.Aliases()
	case p.Name == "name" && n.Parent != nil && n.Parent.Name == "secrets":
		return have.Secrets()
	}
	return nil
}

// machineNames reads the names from this machine's store and config,
// quietly: a completion that cannot read something offers nothing for it.
type machineNames struct{}

func (machineNames) Runs(ctx context.Context) []string {
	r, err := newRunner(nil, io.Discard) // a completion prints only candidates
	if err != nil {
		return nil
	}
	runs, _ := r.List(ctx, engine.ListFilter{Limit: 50})
	out := []string{"last"}
	for _, run := range runs {
		out = append(out, run.ID)
	}
	return out
}

func (machineNames) Steps(ctx context.Context, ref string) []string {
	r, err := newRunner(nil, io.Discard) // a completion prints only candidates
	if err != nil {
		return nil
	}
	run, err := r.Get(ctx, ref)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range run.Steps {
		out = append(out, s.ID)
	}
	return out
}

func (machineNames) Aliases() []string {
	reg, _, err := mergedRegistry()
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(reg.Aliases))
}

func (machineNames) Secrets() []string {
	store, err := keyring.Open(keyring.Options{})
	if err != nil {
		return nil
	}
	list, err := store.List() // the index of names: never the keyring
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}
