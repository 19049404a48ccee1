package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kitaruhq/kitaru/flowspec"
)

// Owned by the flowspec work: validate, graph, schema.

type validateCmd struct {
	Flow string `arg:"" help:"The flow file, or - to read it from stdin."`
}

func (c *validateCmd) Help() string {
	return `Loads the flow, compiles every expression and checks the step graph,
then reports every problem at once as FILE:LINE:COL: message. Nothing runs.
It also warns (on stderr, without failing) about what this machine lacks:
a model alias not registered here, a secret not stored here.
A flow file is UTF-8 text of at most 8MiB; one ${{ }} expression is at
most 64KiB long and nests at most 100 levels.

Exit codes: 0 valid (with or without warnings), 2 invalid (or the file
cannot be read).

Examples:

    kitaru validate examples/llm_writer.yaml
    kitaru validate flow.yaml --json`
}

type validateError struct {
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

type validateReport struct {
	File     string          `json:"file"`
	Valid    bool            `json:"valid"`
	Steps    int             `json:"steps,omitempty"`
	Errors   []validateError `json:"errors"`
	Warnings []flowWarning   `json:"warnings"`
}

func (c *validateCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	// loadFlow (wire.go) checks models with providers.CheckModel and marks
	// every failure as a usage error (exit 2).
	f, err := loadFlow(ctx, c.Flow, stdio.Stdin)
	if ee := (*ExitError)(nil); errors.As(err, &ee) && ee.Code == ExitInterrupted {
		return err
	}
	name := c.Flow
	if name == "-" {
		name = flowspec.StdinName // as its errors name it
	}
	if !g.wantJSON() {
		if err != nil {
			var list *flowspec.ErrorList
			if errors.As(err, &list) {
				fmt.Fprintln(stdio.Stderr, list.Error())
				n := len(*list)
				fmt.Fprintf(stdio.Stderr, "%s: %d %s\n", name, n, plural(n, "error", "errors"))
				return &ExitError{Code: ExitUsage}
			}
			return err
		}
		warns := flowWarnings(f, thisMachine)
		printWarnings(stdio.Stderr, name, warns)
		more := ""
		if n := len(warns); n > 0 {
			more = fmt.Sprintf(", %d %s", n, plural(n, "warning", "warnings"))
		}
		fmt.Fprintf(stdio.Stdout, "%s: ok (%d %s%s)\n", name, len(f.Steps), plural(len(f.Steps), "step", "steps"), more)
		return nil
	}
	rep := validateReport{File: name, Valid: err == nil, Errors: []validateError{}, Warnings: []flowWarning{}}
	if err == nil {
		rep.Steps = len(f.Steps)
		rep.Warnings = append(rep.Warnings, flowWarnings(f, thisMachine)...)
	} else {
		var list *flowspec.ErrorList
		if errors.As(err, &list) {
			for _, e := range *list {
				rep.Errors = append(rep.Errors, validateError{Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
			}
		} else {
			rep.Errors = append(rep.Errors, validateError{Message: err.Error()})
		}
	}
	enc := json.NewEncoder(stdio.Stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(rep); encErr != nil {
		return encErr
	}
	if err != nil {
		return &ExitError{Code: ExitUsage}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type graphCmd struct {
	Flow   string `arg:"" help:"The flow file, or - to read it from stdin."`
	Format string `help:"text, mermaid or dot." enum:"text,mermaid,dot" default:"mermaid"`
}

func (c *graphCmd) Help() string {
	return `Prints the flow's step graph: an edge a --> b means b uses a's result
(through needs or an expression), so a runs first.

Examples:

    kitaru graph examples/llm_writer.yaml
    kitaru graph examples/fan_out.yaml --format text
    kitaru graph flow.yaml --format dot | dot -Tsvg > flow.svg`
}

func (c *graphCmd) Run(ctx context.Context, g *Globals, stdio *IO) error {
	f, err := loadFlow(ctx, c.Flow, stdio.Stdin)
	if err != nil {
		return err
	}
	out := f.Mermaid()
	switch c.Format {
	case "dot":
		out = f.DOT()
	case "text":
		out = graphText(f)
	}
	if g.wantJSON() {
		type edge struct {
			From string `json:"from"`
			To   string `json:"to"`
		}
		type node struct {
			ID   string        `json:"id"`
			Kind flowspec.Kind `json:"kind"`
		}
		rep := struct {
			Flow   string `json:"flow"`
			Format string `json:"format"`
			Graph  string `json:"graph"`
			Nodes  []node `json:"nodes"`
			Edges  []edge `json:"edges"`
		}{Flow: f.Name, Format: c.Format, Graph: out, Nodes: []node{}, Edges: []edge{}}
		for _, s := range f.Steps {
			rep.Nodes = append(rep.Nodes, node{s.ID, s.Kind})
			for _, d := range s.Deps {
				rep.Edges = append(rep.Edges, edge{d, s.ID})
			}
		}
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	_, err = fmt.Fprint(stdio.Stdout, out)
	return err
}

type schemaCmd struct{}

func (c *schemaCmd) Help() string {
	return `Prints the JSON Schema (draft 2020-12) of the flow format, so editors can
check and complete flow files. Point a flow at it with a first line such as

    # yaml-language-server: $schema=../schema/flow.schema.json

Examples:

    kitaru schema > flow.schema.json`
}

func (c *schemaCmd) Run(g *Globals, stdio *IO) error {
	_, err := stdio.Stdout.Write(flowspec.Schema())
	return err
}
