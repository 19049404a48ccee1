package cli

import "errors"

// Owned by the engine work: run, replay, resume, retry, input, executions.

var errTODO = errors.New("not implemented yet")

type runCmd struct {
	Flow string `arg:"" help:"The flow file." type:"path"`
}

func (c *runCmd) Run(g *Globals, stdio *IO) error { return errTODO }

type replayCmd struct {
	RunRef string `arg:"" name:"run" help:"The run to replay: an id, a prefix, or 'last'."`
}

func (c *replayCmd) Run(g *Globals, stdio *IO) error { return errTODO }

type resumeCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
}

func (c *resumeCmd) Run(g *Globals, stdio *IO) error { return errTODO }

type retryCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
}

func (c *retryCmd) Run(g *Globals, stdio *IO) error { return errTODO }

type inputCmd struct {
	RunRef string `arg:"" name:"run" help:"The run: an id, a prefix, or 'last'."`
}

func (c *inputCmd) Run(g *Globals, stdio *IO) error { return errTODO }

type executionsCmd struct {
	List struct{} `cmd:"" help:"List runs, newest first."`
}
