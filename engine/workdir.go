package engine

import (
	"github.com/kitaruhq/kitaru/flowspec"
)

// workDirOf is the directory a new run of f records as its working
// directory: the flow file's, or Config.WorkDir (the current one) for a
// flow that has no file (stdin, a pipe). "" when neither is known:
// commands then run where the process is.
func (e *Engine) workDirOf(f *flowspec.Flow) string {
	if f.Dir != "" {
		return f.Dir
	}
	return e.cfg.WorkDir
}

// replayWorkDir is the working directory of a replay: the edited flow
// file's when it was given one, else the source run's, else (a source
// recorded before runs kept it) the current directory.
func (e *Engine) replayWorkDir(edited *flowspec.Flow, src *RunMeta) string {
	switch {
	case edited != nil:
		return e.workDirOf(edited)
	case src.WorkDir != "":
		return src.WorkDir
	}
	return e.cfg.WorkDir
}
