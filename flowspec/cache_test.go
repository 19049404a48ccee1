package flowspec

import (
	"testing"
	"time"
)

func TestCacheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, defaults, step string
		want                 Cache
	}{
		{name: "absent"},
		{name: "true", step: "cache: true", want: Cache{On: true}},
		{name: "false", step: "cache: false"},
		{name: "ttl", step: "cache: {ttl: 24h}", want: Cache{On: true, TTL: 24 * time.Hour}},
		{name: "from defaults", defaults: "defaults: {cache: {ttl: 90m}}", want: Cache{On: true, TTL: 90 * time.Minute}},
		{name: "the step's replaces the defaults'", defaults: "defaults: {cache: {ttl: 90m}}", step: "cache: false"},
		{name: "the step's ttl replaces the defaults'", defaults: "defaults: {cache: true}", step: "cache: {ttl: 1h}", want: Cache{On: true, TTL: time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := "name: c\n" + tc.defaults + "\nsteps:\n  a:\n    kind: llm\n    prompt: hi\n    " + tc.step + "\n"
			f, err := Parse("f.yaml", []byte(src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Steps[0].LLM.Cache; got != tc.want {
				t.Errorf("cache = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// cache: does not change what a step answers, so it is not part of its
// fingerprint: turning it on or off makes no replay run the step again.
func TestCacheNotInFingerprint(t *testing.T) {
	t.Parallel()
	fp := func(field string) string {
		src := "name: c\nsteps:\n  a:\n    kind: llm\n    prompt: hi\n" + field
		f, err := Parse("f.yaml", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return f.Steps[0].Fingerprint()
	}
	base := fp("")
	for _, field := range []string{"    cache: true\n", "    cache: {ttl: 1h}\n", "    cache: false\n"} {
		if got := fp(field); got != base {
			t.Errorf("fingerprint with %q = %s, want %s as without it", field, got, base)
		}
	}
	if fp("    temperature: 0.5\n") == base {
		t.Error("the test cannot tell fingerprints apart")
	}
}
