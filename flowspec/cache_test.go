package flowspec

import (
	"strings"
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
		// A mapping asks for the cache; without ttl it is cache: true.
		{name: "empty mapping", step: "cache: {}", want: Cache{On: true}},
		{name: "empty mapping in defaults", defaults: "defaults: {cache: {}}", want: Cache{On: true}},
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

// A ttl written as a duration but too long for one says so, not that it is
// no duration.
func TestCacheTTLErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ ttl, want string }{
		{"99999999h", `is too long; the longest is 2562047h`},
		{"1.5h30m", ""},
		{"soon", `is not a duration`},
		{"90", `has no unit`},
		// An empty ttl is not read as no bound: it says what to write.
		{"null", `step "a" cache ttl is empty; give a duration such as 24h, or leave ttl out (cache: true)`},
		{"", `step "a" cache ttl is empty`},
	} {
		src := "name: c\nsteps:\n  a:\n    kind: llm\n    prompt: hi\n    cache: {ttl: " + tt.ttl + "}\n"
		_, err := Parse("c.yaml", []byte(src), Options{})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ttl %s: %v", tt.ttl, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "c.yaml:6:")):
			t.Errorf("ttl %s: error %v, want one at c.yaml:6 saying %q", tt.ttl, err, tt.want)
		}
	}
}
