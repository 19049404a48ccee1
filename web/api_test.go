package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

const quickFlow = `name: quick
inputs:
  who: {type: string, default: world}
steps:
  hello: {kind: checkpoint, run: 'echo "hello ${{ inputs.who }}"'}
`

const gatedFlow = `name: gated
steps:
  first: {kind: checkpoint, run: echo one}
  gate:
    kind: checkpoint
    needs: [first]
    run: 'while [ ! -f GATE ]; do sleep 0.02; done; echo opened'
`

const flakyFlow = `name: flaky
steps:
  check: {kind: checkpoint, run: 'test -f GATE'}
`

const askFlow = `name: ask
steps:
  ship:
    kind: wait
    question: Ship it?
    schema: {type: boolean}
  after: {kind: checkpoint, needs: [ship], run: 'echo "shipped ${{ steps.ship.output }}"'}
`

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"no token", func(*http.Request) {}, http.StatusUnauthorized},
		{"bad bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"bearer without scheme", func(r *http.Request) { r.Header.Set("Authorization", testToken) }, http.StatusUnauthorized},
		{"bad query", func(r *http.Request) { r.URL.RawQuery = "token=nope" }, http.StatusUnauthorized},
		{"bad cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookieName, Value: "nope"}) }, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }, http.StatusOK},
		{"query", func(r *http.Request) { r.URL.RawQuery = "token=" + testToken }, http.StatusOK},
		{"cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookieName, Value: testToken}) }, http.StatusOK},
	}
	for _, path := range []string{"/api/runs", "/", "/compare", "/assets/app.js"} {
		for _, c := range cases {
			t.Run(path+" "+c.name, func(t *testing.T) {
				res := h.want(t, "GET", path, c.set, c.want)
				if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
					t.Errorf("Content-Security-Policy %q", csp)
				}
			})
		}
	}
	t.Run("the query token becomes a cookie", func(t *testing.T) {
		res, err := h.ts.Client().Get(h.ts.URL + "/?token=" + testToken)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var got *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == cookieName {
				got = c
			}
		}
		if got == nil || got.Value != testToken || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode {
			t.Fatalf("cookie %+v", got)
		}
	})
}

func TestOriginAndHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	self := h.ts.URL
	cases := []struct {
		name   string
		method string
		set    func(*http.Request)
		want   int
	}{
		{"post from another origin", "POST", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusForbidden},
		{"post from another port", "POST", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:1") }, http.StatusForbidden},
		{"post from a null origin", "POST", func(r *http.Request) { r.Header.Set("Origin", "null") }, http.StatusForbidden},
		{"post referred by another site", "POST", func(r *http.Request) { r.Header.Set("Referer", "https://evil.example/page") }, http.StatusForbidden},
		{"post cross-site without origin", "POST", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"post to another host", "POST", func(r *http.Request) { r.Host = "evil.example" }, http.StatusForbidden},
		{"get for another host (rebinding)", "GET", func(r *http.Request) { r.Host = "evil.example:80" }, http.StatusForbidden},
		// Reaching the handler: a cancel of a run that does not exist.
		{"post from the page", "POST", func(r *http.Request) { r.Header.Set("Origin", self) }, http.StatusNotFound},
		{"post referred by the page", "POST", func(r *http.Request) { r.Header.Set("Referer", self+"/runs/x") }, http.StatusNotFound},
		{"post from a script", "POST", func(*http.Request) {}, http.StatusNotFound},
		{"post to localhost", "POST", func(r *http.Request) { r.Host = "localhost"; r.Header.Set("Origin", "http://localhost") }, http.StatusNotFound},
		{"get from another origin", "GET", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/api/runs/kr-none/cancel"
			if c.method == "GET" {
				path = "/api/runs/kr-none"
			}
			h.want(t, c.method, path, func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+testToken)
				c.set(r)
			}, c.want)
		})
	}
}

func TestListRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	quick := h.flow("quick", quickFlow)
	var ids []string
	for i := 0; i < 3; i++ {
		id := h.start(quick, nil)
		h.until(id, "completed", status(engine.RunCompleted))
		ids = append(ids, id)
	}
	ask := h.start(h.flow("ask", askFlow), nil)
	h.until(ask, "waiting", status(engine.RunWaiting))

	var all listPage
	if code := h.do("GET", "/api/runs", nil, &all); code != 200 || len(all.Runs) != 4 {
		t.Fatalf("%d %+v", code, all)
	}
	if first := all.Runs[0].(map[string]any)["id"]; first != ask {
		t.Errorf("newest first: got %v first, want %s", first, ask)
	}
	// Paging by the store's cursor: every run once, newest first.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var p listPage
		path := "/api/runs?flow=quick&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if code := h.do("GET", path, nil, &p); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		for _, r := range p.Runs {
			seen = append(seen, r.(map[string]any)["id"].(string))
		}
		if cursor = p.Next; cursor == "" || pages > 3 {
			break
		}
	}
	if want := []string{ids[2], ids[1], ids[0]}; strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("paged: %v, want %v", seen, want)
	}
	var waiting listPage
	h.do("GET", "/api/runs?status=waiting", nil, &waiting)
	if len(waiting.Runs) != 1 || waiting.Runs[0].(map[string]any)["id"] != ask {
		t.Errorf("status=waiting: %+v", waiting)
	}
	var byID listPage
	h.do("GET", "/api/runs?id="+strings.TrimPrefix(ids[1], "kr-")[:5], nil, &byID)
	if len(byID.Runs) != 1 || byID.Runs[0].(map[string]any)["id"] != ids[1] {
		t.Errorf("id=%s: %+v", ids[1][:8], byID)
	}
	for _, bad := range []string{"?limit=x", "?limit=0", "?status=done", "?flow=x;y", "?flow=%zz"} {
		var e errorBody
		if code := h.do("GET", "/api/runs"+bad, nil, &e); code != 400 || e.Error == "" {
			t.Errorf("%s: %d %+v", bad, code, e)
		}
	}
}

func TestInterruptedInList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A run recorded running that nobody holds (its process died).
	ctx := context.Background()
	meta := &runstore.RunMeta{Run: runstore.Run{ID: "kr-dead", Flow: "quick", Status: engine.RunRunning, StartedAt: time.Now().UTC()}}
	l, err := h.files.Create(ctx, meta, []byte(quickFlow), runstore.Holder{Host: "gone", PID: 1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.files.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?status=interrupted"} {
		var p listPage
		h.do("GET", "/api/runs"+q, nil, &p)
		if len(p.Runs) != 1 || p.Runs[0].(map[string]any)["status"] != "interrupted" {
			t.Errorf("%q: %+v", q, p)
		}
	}
	var p listPage
	if h.do("GET", "/api/runs?status=running", nil, &p); len(p.Runs) != 0 {
		t.Errorf("status=running: %+v", p)
	}
}

func TestGetRunAndStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(h.flow("quick", quickFlow), map[string]any{"who": "web"})
	h.until(id, "completed", status(engine.RunCompleted))
	var run map[string]any
	if code := h.do("GET", "/api/runs/"+id, nil, &run); code != 200 || run["status"] != "completed" {
		t.Fatalf("%d %+v", code, run)
	}
	if out := run["steps"].([]any)[0].(map[string]any)["output"]; out != "hello web" {
		t.Errorf("output %v", out)
	}
	var step map[string]any
	if code := h.do("GET", "/api/runs/"+id+"/steps/hello", nil, &step); code != 200 || step["record"].(map[string]any)["output"] != "hello web" {
		t.Errorf("step: %d %+v", code, step)
	}
	cases := []struct{ path, want string }{
		{"/api/runs/kr-none", "run not found"},
		{"/api/runs/kr-none/steps/hello", "run not found"},
		{"/api/runs/" + id + "/steps/nope", `has no step "nope"`},
		{"/api/runs/kr-none/events", "run not found"},
		{"/api/runs/kr-none/graph", "run not found"},
		{"/api/runs/kr-none/replays", "run not found"},
		{"/api/nothing", "no API route"},
	}
	for _, c := range cases {
		var e errorBody
		if code := h.do("GET", c.path, nil, &e); code != 404 || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %d %+v, want 404 %q", c.path, code, e, c.want)
		}
	}
}

func TestStartRunErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.flow("quick", quickFlow)
	h.flow("broken", "name: broken\nsteps:\n  a: {kind: nope}\n")
	cases := []struct {
		name string
		body any
		want string
	}{
		{"no body", "", "no body"},
		{"not JSON", "{", "not the JSON object expected"},
		{"unknown field", `{"flow": "quick.yaml", "input": {}}`, `unknown field "input"`},
		{"two values", `{"flow": "quick.yaml"} {}`, "more than one"},
		{"no flow", `{"inputs": {}}`, `"flow" is missing`},
		{"missing file", `{"flow": "absent.yaml"}`, "absent.yaml"},
		{"invalid flow", `{"flow": "broken.yaml"}`, "broken.yaml"},
		{"unknown input", `{"flow": "quick.yaml", "inputs": {"nobody": 1}}`, "nobody"},
		{"input of the wrong type", `{"flow": "quick.yaml", "inputs": {"who": 3}}`, "who"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := h.do("POST", "/api/runs", c.body, &e); code != 400 || !strings.Contains(e.Error, c.want) {
				t.Fatalf("%d %+v, want 400 %q", code, e, c.want)
			}
		})
	}
}

// A run started from the API is answered at once, while it runs, and goes
// on in the server.
func TestStartAnswersAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var res actionResult
	if code := h.do("POST", "/api/runs", map[string]any{"flow": h.flow("gated", gatedFlow)}, &res); code != http.StatusAccepted {
		t.Fatalf("%d %+v", code, res)
	}
	run := h.until(res.ID, "its gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	if run.Status != engine.RunRunning {
		t.Fatalf("status %s", run.Status)
	}
	h.open("gated")
	h.until(res.ID, "completed", status(engine.RunCompleted))
}

func TestReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.start(h.flow("quick", quickFlow), nil)
	h.until(src, "completed", status(engine.RunCompleted))
	var res actionResult
	code := h.do("POST", "/api/runs/"+src+"/replay", map[string]any{"from": "hello", "inputs": map[string]any{"who": "again"}}, &res)
	if (code != 200 && code != 202) || res.ID == "" || res.ID == src {
		t.Fatalf("%d %+v", code, res)
	}
	run := h.until(res.ID, "completed", status(engine.RunCompleted))
	if run.ReplayOf == nil || *run.ReplayOf != src || run.Steps[0].Output != "hello again" {
		t.Errorf("replay: %+v", run)
	}
	var over actionResult
	h.do("POST", "/api/runs/"+src+"/replay", map[string]any{"overrides": map[string]any{"hello": "edited"}}, &over)
	if run := h.until(over.ID, "completed", status(engine.RunCompleted)); run.Steps[0].Output != "edited" {
		t.Errorf("overridden: %+v", run.Steps[0])
	}
	cases := []struct {
		path string
		body any
		code int
		want string
	}{
		{"/api/runs/kr-none/replay", `{}`, 404, "run not found"},
		{"/api/runs/" + src + "/replay", `{"from": "nope"}`, 400, "nope"},
		{"/api/runs/" + src + "/replay", `{"form": "hello"}`, 400, `unknown field "form"`},
		{"/api/runs/" + src + "/replay", `{"flow": "absent.yaml"}`, 400, "absent.yaml"},
	}
	for _, c := range cases {
		var e errorBody
		if code := h.do("POST", c.path, c.body, &e); code != c.code || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s %v: %d %+v, want %d %q", c.path, c.body, code, e, c.code, c.want)
		}
	}
}

func TestCancelRetryResume(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(h.flow("gated", gatedFlow), nil)
	h.until(id, "its gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	if code := h.do("POST", "/api/runs/"+id+"/cancel", nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	h.until(id, "cancelled", status(engine.RunCancelled))
	var e errorBody
	if code := h.do("POST", "/api/runs/"+id+"/cancel", nil, &e); code != 400 || !strings.Contains(e.Error, "already ended") {
		t.Errorf("cancel again: %d %+v", code, e)
	}
	if code := h.do("POST", "/api/runs/"+id+"/retry", nil, &e); code != 400 || !strings.Contains(e.Error, "cancelled") {
		t.Errorf("retry a cancelled run: %d %+v", code, e)
	}

	id = h.start(h.flow("flaky", flakyFlow), nil)
	h.until(id, "failed", status(engine.RunFailed))
	h.open("flaky")
	var res actionResult
	if code := h.do("POST", "/api/runs/"+id+"/retry", nil, &res); (code != 200 && code != 202) || res.ID != id {
		t.Fatalf("retry: %d %+v", code, res)
	}
	h.until(id, "completed", status(engine.RunCompleted))
	// Resuming a run that ended does nothing, and says which run it is.
	if code := h.do("POST", "/api/runs/"+id+"/resume", nil, &res); code != 200 || res.ID != id {
		t.Errorf("resume a completed run: %d %+v", code, res)
	}
	for _, action := range []string{"resume", "retry", "cancel", "input"} {
		if code := h.do("POST", "/api/runs/kr-none/"+action, `{"value": 1}`, &e); code != 404 {
			t.Errorf("%s of no run: %d %+v", action, code, e)
		}
	}
}

// A run another process holds is refused with 409 and the CLI's remedy.
func TestHeldElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	meta := &runstore.RunMeta{Run: runstore.Run{ID: "kr-held", Flow: "quick", Status: engine.RunRunning, StartedAt: time.Now().UTC()},
		Plan: []runstore.PlanStep{{ID: "hello", Kind: "checkpoint"}}}
	l, err := h.files.Create(ctx, meta, []byte(quickFlow), runstore.Holder{Host: "elsewhere", PID: 4242}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.files.Release(ctx, l) })
	for _, action := range []string{"resume", "retry"} {
		var e errorBody
		if code := h.do("POST", "/api/runs/kr-held/"+action, nil, &e); code != http.StatusConflict ||
			!strings.Contains(e.Error, "is being run by") || e.Remedy != string(runstore.RemedyWaitOrCancel) {
			t.Errorf("%s: %d %+v", action, code, e)
		}
	}
	// Cancel asks the holder to stop, as `executions cancel` does.
	if code := h.do("POST", "/api/runs/kr-held/cancel", nil, nil); code != 200 {
		t.Errorf("cancel: %d", code)
	}
}

func TestInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	file := h.flow("ask", askFlow)
	id := h.start(file, nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	cases := []struct {
		body any
		want string
	}{
		{`{"step": "ship"}`, `"value" is missing`},
		{`{"step": "ship", "value": "yes"}`, "ship"},
		{`{"step": "nope", "value": true}`, "nope"},
		{`{"step": "ship", "value": true, "abort": true}`, "not both"},
		{`{"step": "ship", "answer": true}`, `unknown field "answer"`},
	}
	for _, c := range cases {
		var e errorBody
		if code := h.do("POST", "/api/runs/"+id+"/input", c.body, &e); code != 400 || !strings.Contains(e.Error, c.want) {
			t.Errorf("%v: %d %+v, want 400 %q", c.body, code, e, c.want)
		}
	}
	var res actionResult
	if code := h.do("POST", "/api/runs/"+id+"/input", map[string]any{"step": "ship", "value": true}, &res); (code != 200 && code != 202) || res.ID != id {
		t.Fatalf("answer: %d %+v", code, res)
	}
	run := h.until(id, "completed", status(engine.RunCompleted))
	if out := run.Steps[1].Output; out != "shipped true" {
		t.Errorf("after: %v", out)
	}

	aborted := h.start(file, nil)
	h.until(aborted, "waiting", status(engine.RunWaiting))
	if code := h.do("POST", "/api/runs/"+aborted+"/input", map[string]any{"abort": true}, &res); code != 200 {
		t.Fatalf("abort: %d", code)
	}
	h.until(aborted, "cancelled", status(engine.RunCancelled))
}
