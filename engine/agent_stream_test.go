package engine

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fakellm"
)

// A tool turn streams: the live view shows the text a model writes beside
// its parallel calls as it arrives, and the turns recorded are those of
// the same run against a server that answers whole (as an unstreamed call
// is answered). Over both wire protocols.
func TestAgentStreamsToolTurns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ protocol, model string }{{"openai", "openai/gpt-4o-mini"}, {"anthropic", "anthropic/claude-sonnet-4-0"}} {
		t.Run(tt.protocol, func(t *testing.T) {
			t.Parallel()
			run := func(whole bool) (turns []runstore.Turn, shown []string) {
				srv := fakellm.New(tt.protocol,
					fakellm.Turn{Text: "Looking both up.", Calls: fakellm.Calls("lookup", `{"city":"Paris"}`, "lookup", `{"city":"Rome"}`)},
					fakellm.Turn{Text: "4.9 million people."})
				srv.Whole = whole
				defer srv.Close()
				te := agentEnv(t, srv, 4)
				sub := te.eng.Subscribe("", 1000)
				defer sub.Close()
				r := te.start(te.flow(agentSource(te, tt.model, 10)), nil)
				wantStatus(t, r, RunCompleted)
				for done := false; !done; {
					select {
					case ev := <-sub.Events():
						switch ev.Type {
						case EventText:
							shown = append(shown, ev.Lines[0].Text)
						case EventRunFinished:
							done = true
						}
					case <-time.After(5 * time.Second):
						t.Fatal("no run_finished")
					}
				}
				turns = step(t, r, "research").Turns
				for i := range turns {
					turns[i].DurationMS = 0
					for j := range turns[i].ToolCalls {
						turns[i].ToolCalls[j].DurationMS = 0
					}
				}
				return turns, shown
			}
			streamed, shown := run(false)
			whole, shownWhole := run(true)
			if !reflect.DeepEqual(streamed, whole) {
				t.Errorf("turns streamed:\n%+v\nanswered whole:\n%+v", streamed, whole)
			}
			if len(streamed) != 2 || len(streamed[0].ToolCalls) != 2 || streamed[0].ToolCalls[1].ArgumentsText != `{"city":"Rome"}` ||
				streamed[0].ToolCalls[1].Output != "Rome:alone" || streamed[0].Text != "Looking both up." {
				t.Fatalf("turns %+v", streamed)
			}
			// The tool turn's text is shown a word at a time; whole, at once.
			want := []string{"Looking ", "Looking both ", "Looking both up."}
			if len(shown) < len(want) || !slices.Equal(shown[:len(want)], want) {
				t.Errorf("shown while streamed: %q, want %q first", shown, want)
			}
			if len(shownWhole) == 0 || shownWhole[0] != "Looking both up." {
				t.Errorf("shown when answered whole: %q", shownWhole)
			}
		})
	}
}
