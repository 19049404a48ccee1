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
