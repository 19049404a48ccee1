package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/textcut"
)

// executions diff: two runs compared step by step (engine.Diff), worded.

type diffCmd struct {
	RunA string `arg:"" name:"run-a" help:"The first run: an id, a prefix, or 'last'."`
	RunB string `arg:"" name:"run-b" help:"The second run."`
}

func (c *diffCmd) Help() string {
	return `Shows which inputs differ, then each step of either run: which parts
differ (status, inputs: its definition or what it read, model, output,
error, usage, cost), and for each step that differs what each run has.
Exits 0 whether or not they differ; with --json, "same" says it.

Examples:

    kitaru executions diff kr-3f9a last
    kitaru executions diff kr-3f9a kr-77c1 --json`
}

func (c *diffCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	r, err := newQuietRunner(stdio)
	if err != nil {
		return cmdErr(err)
	}
	a, err := r.Get(ctx, c.RunA)
	if err != nil {
		return cmdErr(err)
	}
	b, err := r.Get(ctx, c.RunB)
	if err != nil {
		return cmdErr(err)
	}
	d := engine.Diff(a, b)
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, d)
	}
	return writeDiff(forPeople(stdio.Stdout), d)
}

// diffWords are the parts of a step as a person reads them.
var diffWords = map[string]string{
	engine.DiffStatus: "status", engine.DiffInputs: "inputs", engine.DiffModel: "model",
	engine.DiffOutput: "output", engine.DiffError: "error", engine.DiffUsage: "tokens", engine.DiffCost: "cost",
}

// diffValueMax is how much of a value a line shows.
const diffValueMax = 200

func writeDiff(w io.Writer, d *engine.RunDiff) error {
	for i, r := range []engine.DiffRun{d.A, d.B} {
		line := fmt.Sprintf("%s  %s  %s  %s", "AB"[i:i+1], r.ID, r.Flow, r.Status)
		if r.ReplayOf != nil {
			line += "  (replay of " + *r.ReplayOf + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	if len(d.Inputs) == 0 {
		fmt.Fprintln(w, "inputs: the same")
	} else {
		fmt.Fprintln(w, "inputs:")
		tw := newTable(w)
		for _, in := range d.Inputs {
			fmt.Fprintf(tw, "  %s\tA: %s\tB: %s\n", in.Name, diffInput(in.A, in.InA), diffInput(in.B, in.InB))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "STEP\tA\tB\tDIFFERS")
	for _, s := range d.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, diffStatus(s.A), diffStatus(s.B), diffParts(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range d.Steps {
		if len(s.Differs) == 0 || s.A == nil || s.B == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", s.ID)
		for _, part := range s.Differs {
			var a, b string
			switch part {
			case engine.DiffStatus:
				continue // in the table
			case engine.DiffInputs:
				fmt.Fprintln(w, "  inputs  its definition or what it read changed")
				continue
			case engine.DiffModel:
				a, b = orDash(s.A.Model), orDash(s.B.Model)
			case engine.DiffOutput:
				a, b = diffValue(s.A.Output), diffValue(s.B.Output)
			case engine.DiffError:
				a, b = diffError(s.A.Error), diffError(s.B.Error)
			case engine.DiffUsage:
				a, b = fmtUsage(s.A.Usage), fmtUsage(s.B.Usage)
			case engine.DiffCost:
				a, b = fmtCost(s.A.CostUSD), fmtCost(s.B.CostUSD)
			}
			fmt.Fprintf(w, "  %-6s  A: %s\n  %-6s  B: %s\n", diffWords[part], a, "", b)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tokens  A: %s  B: %s\n", fmtUsage(d.Usage[0].Usage), fmtUsage(d.Usage[1].Usage))
	fmt.Fprintf(w, "cost    A: %s  B: %s\n", fmtCost(&d.Usage[0].CostUSD), fmtCost(&d.Usage[1].CostUSD))
	if d.Same {
		fmt.Fprintln(w, "\nthe runs do not differ")
	}
	return nil
}

func diffStatus(s *engine.DiffSide) string {
	switch {
	case s == nil:
		return "(no such step)"
	case s.Reused:
		return string(s.Status) + " (reused)"
	}
	return string(s.Status)
}

func diffParts(s engine.StepDiff) string {
	if len(s.Differs) == 0 {
		return "-"
	}
	if s.A == nil {
		return "only in B"
	}
	if s.B == nil {
		return "only in A"
	}
	words := make([]string, len(s.Differs))
	for i, p := range s.Differs {
		words[i] = diffWords[p]
	}
	return strings.Join(words, ", ")
}

func diffInput(v any, present bool) string {
	if !present {
		return "(not given)"
	}
	return diffValue(v)
}

// diffValue is a value on one line: text quoted, anything else as JSON,
// cut to diffValueMax characters.
func diffValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return textcut.Runes(string(b), diffValueMax)
}

func diffError(e *string) string {
	if e == nil {
		return "-"
	}
	return textcut.Runes(strings.ReplaceAll(*e, "\n", " "), diffValueMax)
}
