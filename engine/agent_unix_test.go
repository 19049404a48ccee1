//go:build unix

package engine

import (
	"path/filepath"
	"testing"

	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// A tool's command that leaves a background child holding stdout ends
// with its main process too: its result is what it printed, and the
// child does not outlive the call.
func TestAgentToolBackgroundChildEndsWithTheCall(t *testing.T) {
	t.Parallel()
	srv := fakellm.New("openai", fakellm.Turn{Calls: fakellm.Calls("spawn", `{}`)}, fakellm.Turn{Text: "done"})
	defer srv.Close()
	te := agentEnv(t, srv, 2)
	run := te.start(te.flow(`
name: bg
tools:
  spawn:
    run: sleep 100 & echo $! > COUNTER/bg; echo hi
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: go
    tools: [spawn]
`), nil)
	wantStatus(t, run, RunCompleted)
	if c := step(t, run, "research").Turns[0].ToolCalls[0]; c.Output != "hi" || c.Error != nil {
		t.Fatalf("the call %+v, want output hi", c)
	}
	wantGone(t, filepath.Join(te.counter, "bg"))
}
