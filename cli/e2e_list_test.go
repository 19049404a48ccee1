package cli

import (
	"strings"
	"testing"
)

// TestE2EListSaysWhatItLeftOut: a list cut by --limit says how many runs
// there are, a filter that matches nothing says what there is instead of
// "no runs yet", and a prefix of "kr-" is a prefix of every id.
func TestE2EListSaysWhatItLeftOut(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.flow("f.yaml", "name: f\nsteps:\n  a: {kind: checkpoint, run: echo hi}\n")
	for range 3 {
		e.must(0, "run", f, "--quiet")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--limit", "2"}, "2 of 3 runs shown; --limit N shows more, --limit 0 all"},
		{[]string{"--limit", "2", "--status", "completed"}, "2 of 3 runs shown"},
		{[]string{"--flow", "nosuch"}, `no runs of flow "nosuch"; there are 3 runs in all, of flow f`},
		{[]string{"--status", "failed"}, "no failed runs; there are 3 runs in all, of flow f"},
	} {
		r := e.must(0, append([]string{"executions", "list"}, tt.args...)...)
		if !strings.Contains(r.Stdout, tt.want) {
			t.Errorf("list %s: want %q in\n%s", strings.Join(tt.args, " "), tt.want, r.Stdout)
		}
	}
	if r := e.must(0, "executions", "list", "--limit", "3"); strings.Contains(r.Stdout, "shown") {
		t.Errorf("a list showing every run says some were left out:\n%s", r.Stdout)
	}
	for _, ref := range []string{"kr", "k"} {
		r := e.run("executions", "get", ref)
		if r.Code == 0 || !strings.Contains(r.Stderr, "matches 3 runs") {
			t.Errorf("get %s: want it ambiguous among the 3 runs, got %s", ref, r)
		}
	}
}
