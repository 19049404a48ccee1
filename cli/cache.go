package cli

import "github.com/kitaruhq/kitaru/engine"

// cacheFlags is --no-cache of the commands that start or continue a run.
type cacheFlags struct {
	NoCache bool `name:"no-cache" help:"Take no answer from the cache of answers (cache: on llm steps): every model call is made; its answer still replaces the cached one. Resume and retry of a run started with it keep it."`
}

// continueOptions are its engine options for resume and retry.
func (f cacheFlags) continueOptions() []engine.ContinueOption {
	if !f.NoCache {
		return nil
	}
	return []engine.ContinueOption{engine.WithNoCache()}
}
