package executors

import (
	"fmt"
	"slices"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/bytesize"
	"github.com/kitaruhq/kitaru/internal/textcut"
)

// A tool call's output is kept whole once, in its turn record: that is
// what a resume sends the model again. Every other copy (the step's
// record, the log) holds at most
// toolCopyMax bytes of it, so a 10 MB output costs 10 MB on disk, not 40.
const toolCopyMax = 64 << 10

// cutOutput is s bounded for a copy, saying where the whole is.
func cutOutput(s string) string {
	if len(s) <= toolCopyMax {
		return s
	}
	return textcut.Bytes(s, toolCopyMax) + fmt.Sprintf("\n[cut here: %s of %s; the whole output is in the turn record of this call, under the step's turns/]",
		bytesize.Format(toolCopyMax), bytesize.Format(int64(len(s))))
}

// boundTurns is turns, for the step's record, with each tool output
// bounded; the turns are copies, their tool calls shared until one is cut.
func boundTurns(turns []runstore.Turn) []runstore.Turn {
	for i := range turns {
		cloned := false
		for j, tc := range turns[i].ToolCalls {
			s, ok := tc.Output.(string)
			if !ok || len(s) <= toolCopyMax {
				continue
			}
			if !cloned {
				turns[i].ToolCalls, cloned = slices.Clone(turns[i].ToolCalls), true
			}
			turns[i].ToolCalls[j].Output = cutOutput(s)
		}
	}
	return turns
}
