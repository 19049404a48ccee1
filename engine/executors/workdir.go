package executors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
)

// commandDir is where a run: command starts: its dir:, relative to the
// run's working directory, or that directory itself.
func commandDir(u *work.Unit) (string, error) {
	base := u.Dir
	cp := u.Step.Checkpoint
	if cp.Dir == nil {
		return base, nil
	}
	d, err := cp.Dir.Render(u.Scope)
	if err != nil {
		return "", fmt.Errorf("dir: %w", err)
	}
	if base != "" && d != "" && !filepath.IsAbs(d) {
		d = filepath.Join(base, d)
	}
	return d, nil
}

// withPWD is env with PWD naming dir, as a shell started there sets it:
// os/exec leaves an Env it is given alone, and the inherited PWD names
// kitaru's own directory.
func withPWD(env []string, dir string) []string {
	if dir == "" {
		return env
	}
	if abs, err := filepath.Abs(dir); err == nil {
		env = append(env, "PWD="+abs)
	}
	return env
}

// dirError says, for a command that failed to start, whether its
// directory was why (gone, not a directory), naming it and what to do; nil
// otherwise. The start's own error names the shell, not the directory, so
// the directory is looked at once a start failed.
func dirError(u *work.Unit, startFailed bool, dir string) error {
	if !startFailed || dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	why := "is not a directory"
	switch {
	case err == nil && st.IsDir():
		return nil
	case errors.Is(err, fs.ErrNotExist):
		why = "does not exist"
	case err != nil:
		why = "cannot be used: " + err.Error()
	}
	if u.Step.Checkpoint.Dir != nil {
		return fmt.Errorf("the command could not start: its dir: %s %s", dir, why)
	}
	return runstore.Advise(fmt.Errorf("the command could not start: the run's working directory %s (the flow file's directory when the run started) %s", dir, why), runstore.Remedy{Do: runstore.RemedyReplayNewFlow, Run: u.RunID})
}
