package flowspec

import (
	"reflect"
	"testing"
)

func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string // pointers
	}{
		{`{"a":1,"b":2}`, nil},
		{`{"a":1,"a":2}`, []string{""}},
		{`[{"x":{"k":1,"k":2}}, {"k":1}]`, []string{"/0/x"}},
		{`{"a/b":{"c":1,"c":1},"a":1,"a":[]}`, []string{"/a~1b", ""}},
		{`"a"`, nil},
	} {
		var got []string
		for _, v := range DuplicateKeys([]byte(tt.in)) {
			got = append(got, v.Pointer)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: duplicates at %q, want %q", tt.in, got, tt.want)
		}
	}
}
