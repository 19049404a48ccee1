package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// subflowSession runs examples/subflow.yaml as its comment says: a run
// whose flow step starts one child run per document. What a person reads
// of the parent, of a child and of the list is golden; `last` is the
// parent, not the newest child.
func subflowSession(t *testing.T, e *e2e, flow string) {
	var b strings.Builder
	show := func(name string, r result) {
		b.WriteString("=== " + name + "\n" + r.String())
	}
	r := e.must(0, "run", flow, "--parallel", "1")
	parent := e.record("last")
	if parent.Parent != nil || parent.Flow != "subflow" {
		t.Fatalf("last is not the parent run: %+v", parent)
	}
	ids := map[string]string{parent.ID: "kr-PARENT"}
	per := stepOf(t, parent, "per_doc")
	if len(per.Items) != 2 {
		t.Fatalf("per_doc ran %d items, want 2", len(per.Items))
	}
	for i, it := range per.Items {
		if it.ChildRun == "" {
			t.Fatalf("item %d names no child run", i)
		}
		ids[it.ChildRun] = fmt.Sprintf("kr-CHILD%d", i)
		child := e.record(it.ChildRun)
		if child.Parent == nil || child.Parent.Run != parent.ID || child.Parent.Item == nil || *child.Parent.Item != i {
			t.Errorf("child %s's parent is %+v", it.ChildRun, child.Parent)
		}
		wantSteps(t, child, map[string]engine.StepStatus{"words": engine.StepCompleted, "sentence": engine.StepCompleted})
	}
	if want := "- Mocked answer. (6 words)\n- Mocked answer. (6 words)"; parent.Output != want {
		t.Errorf("output = %q, want %q", parent.Output, want)
	}
	show("kitaru run examples/subflow.yaml", r)
	show("kitaru executions get kr-PARENT", e.must(0, "executions", "get", parent.ID))
	show("kitaru executions get kr-CHILD1", e.must(0, "executions", "get", per.Items[1].ChildRun))
	// Children are listed too, each with its parent.
	show("kitaru executions list", e.must(0, "executions", "list"))
	got := dateRE.ReplaceAllString(normaliseText(sortedList(b.String()), e, ids), "YYYY-MM-DD HH:MM:SS")
	checkGolden(t, "cli/subflow_example.txt.golden", got)
}

// sortedList puts the rows of the runs table in a stable order (parent,
// then children by item): runs started in the same second are listed by
// their random ids.
func sortedList(s string) string {
	head, rest, ok := strings.Cut(s, "=== kitaru executions list\n")
	if !ok {
		return s
	}
	lines := strings.SplitAfter(rest, "\n")
	var at []int
	var rows []string
	for i, l := range lines {
		if strings.HasPrefix(l, "kr-") {
			at = append(at, i)
			rows = append(rows, l)
		}
	}
	key := func(l string) string {
		if i := strings.Index(l, "per_doc["); i >= 0 {
			return "1" + l[i:]
		}
		return "0"
	}
	slices.SortStableFunc(rows, func(a, b string) int { return strings.Compare(key(a), key(b)) })
	for n, i := range at {
		lines[i] = rows[n]
	}
	return head + "=== kitaru executions list\n" + strings.Join(lines, "")
}

var dateRE = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)

// A wait inside a sub-flow: the parent waits (exit 3), get says which run
// asks, and `kitaru input PARENT` answers the child and resumes the
// parent, which resumes the child.
func TestE2ESubFlowWaits(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	requireEngine(t, e)
	e.flow("child.yaml", "name: child\nsteps:\n  ok: {kind: wait, question: 'Publish?', schema: {type: boolean}}\noutput: ${{ steps.ok.output }}\n")
	f := e.flow("main.yaml", "name: main\nsteps:\n  pub: {kind: flow, flow: child.yaml}\noutput: 'published: ${{ steps.pub.output }}'\n")
	id := announcedID(t, e.must(ExitWaiting, "run", f, "--quiet").Stdout)
	child := stepOf(t, e.record(id), "pub").ChildRun
	r := e.must(0, "executions", "get", id)
	for _, want := range []string{"child run " + child, "pub asks:\n  Publish?", "kitaru input " + id + " pub --value"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("get of the waiting parent lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = e.must(0, "input", id, "--value", "true", "--quiet")
	if !strings.Contains(r.Stdout, "published: true") {
		t.Errorf("the resumed parent's output:\n%s", r)
	}
	if run := e.record(child); run.Status != engine.RunCompleted {
		t.Errorf("the child is %s", run.Status)
	}
}
