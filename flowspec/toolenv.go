package flowspec

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// A tool's env keys are the flow author's, but a value read from args is
// the model's, and the model's text may be steered by whatever it read (a
// web page, a file). In these variables a value decides what code the
// command runs, not only what it works on, so one from args is refused.
// validate has no warnings, so it is an error, saying what to do instead.
var codeEnv = map[string]string{
	"PATH":              "where the command's programs are found",
	"BASH_ENV":          "which file bash runs at its start",
	"ENV":               "which file sh runs at its start",
	"SHELLOPTS":         "the shell's options",
	"BASHOPTS":          "the shell's options",
	"PS4":               "what the shell expands (and runs) when tracing",
	"IFS":               "how the shell splits words",
	"CDPATH":            "where cd goes",
	"PYTHONPATH":        "where Python finds its modules",
	"PYTHONHOME":        "where Python finds its library",
	"PYTHONSTARTUP":     "which file Python runs at its start",
	"PERL5LIB":          "where Perl finds its modules",
	"PERL5OPT":          "Perl's options, which can load code",
	"RUBYLIB":           "where Ruby finds its libraries",
	"RUBYOPT":           "Ruby's options, which can load code",
	"NODE_OPTIONS":      "Node's options, which can load code",
	"NODE_PATH":         "where Node finds its modules",
	"JAVA_TOOL_OPTIONS": "the JVM's options, which can load agents",
	"_JAVA_OPTIONS":     "the JVM's options, which can load agents",
	"GIT_SSH_COMMAND":   "which command git runs for ssh",
	"GIT_EXEC_PATH":     "where git finds its programs",
}

// codeEnvWhy says what name decides that makes an args value dangerous in
// it ("" : nothing).
func codeEnvWhy(name string) string {
	switch {
	case strings.HasPrefix(name, "LD_"):
		return "which libraries the dynamic loader puts into every program"
	case strings.HasPrefix(name, "DYLD_"):
		return "which libraries the macOS dynamic loader puts into every program"
	case strings.HasPrefix(name, "GIT_CONFIG"):
		return "git's configuration, which can name commands it runs"
	}
	return codeEnv[name]
}

// checkToolEnv refuses an env value of a tool that reads args in a
// variable of codeEnv.
func (l *loader) checkToolEnv(owner string, env []EnvVar) {
	for _, ev := range env {
		why := codeEnvWhy(ev.Name)
		if why == "" || ev.Value == nil || !readsArgs(ev.Value.Source()) {
			continue
		}
		l.e.add(ev.Value.pos, "%s env %s: its value comes from the model's arguments (args), and %s decides %s, so the model could run code of its choosing; pass the value under another name (e.g. TOOL_%s) and have run: check it before using it, or set %s from the flow, not from args",
			owner, ev.Name, ev.Name, why, ev.Name, ev.Name)
	}
}

// readsArgs says whether a template's ${{ }} read args. One that does not
// parse is reported where it is compiled.
func readsArgs(src string) bool {
	phs, _, err := scanPlaceholders(src)
	if err != nil {
		return false
	}
	for _, ph := range phs {
		tree, err := parser.Parse(src[ph.exprStart:ph.exprEnd])
		if err != nil {
			continue
		}
		v := &argsVisitor{}
		ast.Walk(&tree.Node, v)
		if v.found {
			return true
		}
	}
	return false
}

type argsVisitor struct{ found bool }

func (v *argsVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value == "args" {
		v.found = true
	}
}
