package cli

// Owned by the terminal-view work: kitaru status.

type statusCmd struct{}

func (c *statusCmd) Run(g *Globals, stdio *IO) error { return errTODO }
