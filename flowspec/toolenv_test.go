package flowspec

import (
	"strings"
	"testing"
)

// A tool's env variable that decides what code runs (LD_PRELOAD, PATH,
// BASH_ENV…) may not take its value from args: the model would choose it.
func TestToolEnvFromArgsInCodeVariables(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ env, want string }{
		{"LD_PRELOAD: '${{ args.p }}'", `f.yaml:7:19: tool "x" env LD_PRELOAD: its value comes from the model's arguments (args), and LD_PRELOAD decides which libraries the dynamic loader puts into every program`},
		{"PATH: '/usr/bin:${{ args.p }}'", `tool "x" env PATH: its value comes from the model's arguments`},
		{"BASH_ENV: '${{ args.p ?? \"\" }}'", `env BASH_ENV:`},
		{"ENV: '${{ args.p }}'", `env ENV:`},
		{"PYTHONPATH: '${{ args[\"p\"] }}'", `pass the value under another name (e.g. TOOL_PYTHONPATH) and have run: check it`},
		{"DYLD_INSERT_LIBRARIES: '${{ args.p }}'", `env DYLD_INSERT_LIBRARIES:`},
		// The flow's own values, and args in other variables, are fine.
		{"PATH: '/opt/bin:${{ inputs.dir }}'", ""},
		{"LD_LIBRARY_PATH: /opt/lib", ""},
		{"CITY: '${{ args.p }}'", ""},
		{"PATH: 'args'", ""},
	} {
		src := "name: f\ninputs: {dir: {default: x}}\ntools:\n  x:\n    run: echo\n    env: {" + tt.env + "}\nsteps:\n  s: {kind: llm, prompt: hi, tools: [x]}\n"
		src = strings.Replace(src, "    env: {", "    env:\n      ", 1)
		src = strings.Replace(src, "}\nsteps:", "\nsteps:", 1)
		_, err := Parse("f.yaml", []byte(src), Options{})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.env, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.env, err, tt.want)
		}
	}
}
