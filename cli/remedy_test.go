package cli

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	usage := func(err error) error { return &engine.UsageError{Err: err} }
	item := func(sel, step string, n int, p engine.ItemProblem, items int, status engine.StepStatus) *engine.ItemChoiceError {
		return &engine.ItemChoiceError{Role: engine.SelectFrom, Sel: sel, Step: step, Item: n, Problem: p, Items: items, Run: "kr-src", Status: status}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New("boom"), "boom"},
		{"advised", runstore.Advise(errors.New("run kr-1 failed"), runstore.Remedy{Do: runstore.RemedyRetry, Run: "kr-1"}),
			"run kr-1 failed; `kitaru retry kr-1` runs its failed steps again"},
		{"advised, wrapped", fmt.Errorf("replay: %w", runstore.Advise(errors.New("full"), runstore.Remedy{Do: runstore.RemedyFreeSpace, Run: "kr-2"})),
			"replay: full; free some space, then `kitaru resume kr-2` continues the run"},
		{"held", &runstore.HeldError{RunID: "kr-3", Holder: runstore.Holder{PID: 42}},
			"run kr-3 is being run by process 42; wait for it or `kitaru executions cancel kr-3`"},
		{"damaged step", &runstore.DamagedError{RunID: "kr-4", Part: runstore.PartStep, Step: "a", Where: "steps/a/result.json", Problem: "is missing"},
			"steps/a/result.json is missing; move it away and step a counts as never run; `kitaru replay kr-4 --from a` runs it again in a new run (or `kitaru retry kr-4`, if the run did not complete)"},
		{"damaged meta has no command", &runstore.DamagedError{RunID: "kr-5", Part: runstore.PartMeta, Where: "run.json", Problem: "is missing"},
			"run.json is missing; run kr-5 cannot be used as it is: repair the record, or delete the run"},
		{"unknown kind says nothing more", runstore.Advise(errors.New("x"), runstore.Remedy{Do: "from_the_future"}), "x"},
		{"no such step", usage(&engine.StepChoiceError{Role: engine.SelectFrom, Sel: "zz", Steps: []string{"a", "b"}}),
			`--from "zz": the flow has no such step; its steps are: a, b`},
		{"ambiguous", usage(&engine.StepChoiceError{Role: engine.SelectOverride, Sel: "w", Matches: []string{"wa", "wb"}}),
			`--override "w" is ambiguous: it could be wa, wb`},
		{"twice", usage(&engine.StepChoiceError{Role: engine.SelectOverride, Sel: "w", Matches: []string{"wa"}, Twice: true}),
			"--override: step wa is overridden twice"},
		{"choice, wrapped", fmt.Errorf("cannot replay: %w", &engine.StepChoiceError{Role: engine.SelectFrom, Sel: "q", Steps: []string{"a"}}),
			`cannot replay: --from "q": the flow has no such step; its steps are: a`},
		{"item: bad selector", usage(&engine.ItemChoiceError{Role: engine.SelectFrom, Sel: "each[-1]", Step: "each", Problem: engine.ItemBadSelector}),
			`--from "each[-1]": write STEP[N] with N an item's number from 0, e.g. --from each[0]`},
		{"item: no foreach", usage(item("list[0]", "list", 0, engine.ItemNoForeach, 0, "")),
			"--from list[0]: step list has no foreach, so it has no items; write --from list to run it again"},
		{"item: skipped", usage(item("off[0]", "off", 0, engine.ItemSkipped, 0, "")),
			"--from off[0]: step off was skipped in run kr-src, so it has no items; write --from off to run it again"},
		{"item: past the end", usage(item("each[3]", "each", 3, engine.ItemPastEnd, 3, "")),
			"--from each[3]: step each had 3 items (each[0] to each[2]) in run kr-src"},
		{"item: past the one item", usage(item("each[1]", "each", 1, engine.ItemPastEnd, 1, "")),
			"--from each[1]: step each had 1 item (each[0]) in run kr-src"},
		{"item: none", usage(item("each[0]", "each", 0, engine.ItemPastEnd, 0, "")),
			"--from each[0]: step each had no items in run kr-src"},
		{"item: past the records of a failed step", usage(item("each[3]", "each", 3, engine.ItemUnrecorded, 3, engine.StepFailed)),
			"--from each[3]: step each did not complete in run kr-src (failed there), and its item records there end at each[2]; " +
				"write --from 'each[N]' with N from 0 to 2 to run one of those again, or --from each to run them all; " +
				"a replay without --from runs every item run kr-src has no record of anyway"},
		{"item: past the records of a step stopped part-way", usage(item("each[5]", "each", 5, engine.ItemUnrecorded, 3, "")),
			"--from each[5]: step each did not complete in run kr-src (it stopped part-way there), and its item records there end at each[2]; " +
				"write --from 'each[N]' with N from 0 to 2 to run one of those again, or --from each to run them all; " +
				"a replay without --from runs every item run kr-src has no record of anyway"},
		{"item: no records", usage(item("each[0]", "each", 0, engine.ItemUnrecorded, 0, "")),
			"--from each[0]: run kr-src has no record of any item of step each (it never ran there), so no item can be picked; " +
				"write --from each to run them all; a replay without --from runs every item run kr-src has no record of anyway"},
		{"item: its step overridden", usage(&engine.ItemChoiceError{Role: engine.SelectFrom, Sel: "each[0]", Step: "each", Problem: engine.ItemOverridden}),
			"--from each[0] with --override each: the override sets the whole output of step each, so no item of it runs; " +
				"write --from each[0] alone to run item 0 again, or --override each alone to replace the output (the steps downstream of it run again)"},
		{"item: overridden", usage(&engine.ItemChoiceError{Role: engine.SelectOverride, Sel: "each[1]", Step: "each", Item: 1, Problem: engine.ItemOverride}),
			"--override each[1]: an override sets the whole output of a step, not one item; write --override each=VALUE with the whole list, or --from each[1] to run item 1 again"},
		{"item, wrapped", fmt.Errorf("cannot replay: %w", item("list[0]", "list", 0, engine.ItemNoForeach, 0, "")),
			"cannot replay: --from list[0]: step list has no foreach, so it has no items; write --from list to run it again"},
	}
	for _, tt := range tests {
		if got := explain(tt.err); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// Every way out the engine can offer has words here: the kinds are read
// from runstore's source, so one added there without words fails this.
func TestRemedyTextCoversEveryKind(t *testing.T) {
	t.Parallel()
	file, err := parser.ParseFile(token.NewFileSet(), "../engine/runstore/remedy.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "RemedyKind" {
				continue
			}
			kind, err := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if remedyText(runstore.Remedy{Do: runstore.RemedyKind(kind), Run: "kr-1", Step: "s", Name: "n"}) == "" {
				t.Errorf("remedy %s (%s) has no words", vs.Names[0].Name, kind)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found %d remedy kinds in remedy.go; the test reads the wrong file", n)
	}
}
