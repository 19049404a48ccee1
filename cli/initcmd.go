package cli

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

//go:embed starter/flow.yaml
var starterFlow string

type initCmd struct {
	File string `arg:"" optional:"" default:"flow.yaml" help:"Where to write the starter flow (default flow.yaml); an existing file is never overwritten."`
}

func (c *initCmd) Help() string {
	return `Writes a starter flow: a command step and a model step, with comments on
running it offline (a mock model, no key needed) and then for real.

Examples:

    kitaru init
    kitaru init flows/notes.yaml`
}

func (c *initCmd) Run(g *Globals, stdio *IO) error {
	if strings.ContainsFunc(c.File, unicode.IsControl) {
		return usageErr(fmt.Errorf("the file name %q holds control characters; give a plain one", c.File))
	}
	text := strings.ReplaceAll(starterFlow, "flow.yaml", shellQuote(filepath.ToSlash(c.File)))
	if dir := filepath.Dir(c.File); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot make the folder for the starter flow: %w", err)
		}
	}
	f, err := os.OpenFile(c.File, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return usageErr(fmt.Errorf("%s exists and is left as it is; give another file: kitaru init other.yaml", c.File))
	}
	if err != nil {
		return fmt.Errorf("cannot write the starter flow: %w", err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(c.File) // a half-written starter helps no one
		return fmt.Errorf("cannot write the starter flow %s: %w", c.File, err)
	}
	if g.wantJSON() {
		return writeJSON(stdio.Stdout, struct {
			File string `json:"file"`
		}{c.File})
	}
	q := shellQuote(c.File)
	fmt.Fprintf(stdio.Stdout, `Wrote %s: a command step, then a model step that summarises its output.

Run it offline, with a mock model:
    KITARU_LLM_MOCK_RESPONSE="A mock answer." kitaru run %s
Then with a real model (its comments say how to register one), and see what was recorded:
    kitaru executions get last
`, c.File, q)
	return nil
}
