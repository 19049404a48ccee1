package runstore

import (
	"fmt"
	"testing"
)

// An ambiguous prefix names a few of its runs and counts the rest, so a
// prefix matching thousands is still one line.
func TestAmbiguousErrorNamesAFew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want string
	}{
		{2, `"kr-" matches 2 runs: kr-0, kr-1; give more of the id`},
		{5, `"kr-" matches 5 runs: kr-0, kr-1, kr-2, kr-3, kr-4; give more of the id`},
		{3000, `"kr-" matches 3000 runs: kr-0, kr-1, kr-2, kr-3, kr-4 and 2995 more; give more of the id`},
	} {
		e := &AmbiguousError{Ref: "kr-"}
		for i := range tc.n {
			e.Matches = append(e.Matches, fmt.Sprintf("kr-%d", i))
		}
		if got := e.Error(); got != tc.want {
			t.Errorf("%d matches: %s\nwant %s", tc.n, got, tc.want)
		}
	}
}
