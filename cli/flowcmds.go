package cli

import "errors"

// Owned by the flowspec work: validate, graph, schema.

type validateCmd struct {
	Flow string `arg:"" help:"The flow file." type:"path"`
}

func (c *validateCmd) Run(g *Globals, stdio *IO) error {
	return errors.New("validate: not implemented yet")
}

type graphCmd struct {
	Flow   string `arg:"" help:"The flow file." type:"path"`
	Format string `help:"mermaid or dot." enum:"mermaid,dot" default:"mermaid"`
}

func (c *graphCmd) Run(g *Globals, stdio *IO) error { return errors.New("graph: not implemented yet") }

type schemaCmd struct{}

func (c *schemaCmd) Run(g *Globals, stdio *IO) error {
	return errors.New("schema: not implemented yet")
}
