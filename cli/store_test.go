package cli

import (
	"strings"
	"testing"
)

// A password given in --store is visible in the process list: kitaru says
// so, and not for one in KITARU_STORE or a URL with none.
func TestStoreFlagPasswordWarning(t *testing.T) {
	t.Parallel()
	const withPassword = "postgres://me:pw@db/kitaru"
	for _, tc := range []struct {
		args []string
		ref  string
		warn bool
	}{
		{[]string{"--store", withPassword, "status"}, withPassword, true},
		{[]string{"--store=" + withPassword, "status"}, withPassword, true},
		{[]string{"--store", "postgres://db/kitaru?password=pw", "status"}, "postgres://db/kitaru?password=pw", true},
		{[]string{"--store", "postgres://me@db/kitaru", "status"}, "postgres://me@db/kitaru", false},
		{[]string{"status"}, withPassword, false}, // from KITARU_STORE
		{[]string{"run", "f.yaml", "--", "--store=" + withPassword}, withPassword, false},
	} {
		var out strings.Builder
		warnStoreFlagPassword(&out, tc.args, tc.ref)
		if got := strings.Contains(out.String(), "can be read by anyone"); got != tc.warn {
			t.Errorf("%v: warned %v, want %v (%q)", tc.args, got, tc.warn, out.String())
		}
	}
}
