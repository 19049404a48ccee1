package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

const twoFlow = `name: two
inputs:
  word: {type: string, default: two}
steps:
  first: {kind: checkpoint, run: echo one}
  second: {kind: checkpoint, needs: [first], run: 'echo ${{ inputs.word }}'}
`

// The graph of a run is its recorded flow's: every step, what it waits
// for, its stage.
func TestGraphRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.completed(h.flow("two", twoFlow), nil)
	var g graphBody
	if code := h.do("GET", "/api/runs/"+id+"/graph", nil, &g); code != 200 {
		t.Fatalf("%d", code)
	}
	got, _ := json.Marshal(g.Steps)
	want := `[{"id":"first","kind":"checkpoint","needs":[],"stage":1},{"id":"second","kind":"checkpoint","needs":["first"],"stage":2}]`
	if string(got) != want {
		t.Errorf("graph %s, want %s", got, want)
	}
}

// The replays of a run are listed with it, and only its own: not the
// replays of its replays, nor those of other runs; whether the newest page
// of runs reaches back to the run's start or not.
func TestReplaysRoute(t *testing.T) {
	for _, page := range []int{maxLimit, 1} {
		t.Run(fmt.Sprintf("page of %d", page), func(t *testing.T) {
			// Not parallel: the parallel tests start once this is done.
			defer func(was int) { replaysPage = was }(replaysPage)
			replaysPage = page
			testReplays(t)
		})
	}
}

func testReplays(t *testing.T) {
	h := newHarness(t)
	file := h.flow("two", twoFlow)
	src, other := h.completed(file, nil), h.completed(file, nil)
	replay := func(of string) string {
		var res actionResult
		if code := h.do("POST", "/api/runs/"+of+"/replay", map[string]any{"from": "second"}, &res); code != 200 && code != 202 {
			t.Fatalf("replay of %s: %d", of, code)
		}
		h.until(res.ID, "completed", status(engine.RunCompleted))
		return res.ID
	}
	r1, r2 := replay(src), replay(src)
	replay(r1)
	replay(other)
	var body struct {
		Replays []engine.Run `json:"replays"`
	}
	if code := h.do("GET", "/api/runs/"+src+"/replays", nil, &body); code != 200 {
		t.Fatalf("%d", code)
	}
	var ids []string
	for _, r := range body.Replays {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, " ") != r2+" "+r1 {
		t.Errorf("replays of %s: %v, want [%s %s] (newest first)", src, ids, r2, r1)
	}
	var none struct {
		Replays []engine.Run `json:"replays"`
	}
	if h.do("GET", "/api/runs/"+r2+"/replays", nil, &none); none.Replays == nil || len(none.Replays) != 0 {
		t.Errorf("a run never replayed: %+v", none)
	}
}

// Compare is engine.Diff, as `executions diff --json`; its errors are
// the API's.
func TestCompareRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	file := h.flow("two", twoFlow)
	a := h.completed(file, nil)
	var res actionResult
	h.do("POST", "/api/runs/"+a+"/replay", map[string]any{"inputs": map[string]any{"word": "deux"}}, &res)
	b := res.ID
	h.until(b, "completed", status(engine.RunCompleted))
	var d engine.RunDiff
	if code := h.do("GET", "/api/compare?a="+a+"&b="+b, nil, &d); code != 200 {
		t.Fatalf("%d", code)
	}
	if d.Same || d.A.ID != a || d.B.ID != b || len(d.Inputs) != 1 || d.Inputs[0].Name != "word" {
		t.Fatalf("diff %+v", d)
	}
	parts := map[string]string{}
	for _, s := range d.Steps {
		parts[s.ID] = strings.Join(s.Differs, ",")
	}
	if parts["first"] != "" || parts["second"] != "inputs,output" {
		t.Errorf("steps differ in %v", parts)
	}
	cases := []struct {
		query string
		code  int
		want  string
	}{
		{"", 400, "?a=RUN&b=RUN"},
		{"?a=" + a, 400, "?a=RUN&b=RUN"},
		{"?a=" + a + "&b=kr-none", 404, "run not found"},
		{"?a=kr-none&b=" + b, 404, "run not found"},
	}
	for _, c := range cases {
		var e errorBody
		if code := h.do("GET", "/api/compare"+c.query, nil, &e); code != c.code || !strings.Contains(e.Error, c.want) {
			t.Errorf("%q: %d %+v, want %d %q", c.query, code, e, c.code, c.want)
		}
	}
}
