package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
)

// chromium is Debian's headless-capable browser (.ci/run installs it).
const chromium = "/usr/bin/chromium"

// browser opens a headless Chromium on the harness's page; what the page
// logs as an error (a script exception, a refused Content-Security-Policy)
// fails the test.
func (h *harness) browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no %s (apt-get install chromium): the browser tests need it", chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests may run as root, where the sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelTime()
		cancelCtx()
		cancelAlloc()
		t.Fatalf("cannot start %s: %v", chromium, err)
	}
	var mu sync.Mutex
	var problems []string
	watch, stopWatch := context.WithCancel(ctx)
	messages := chromedp.Console(watch)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range messages {
			if err != nil {
				return
			}
			// The browser logs an API's refusal (4xx) by itself; the page
			// shows it, and the tests that cause one check what it shows.
			refused := strings.Contains(m.Text, "the server responded with a status of 4")
			if (m.Type == chromedp.ConsoleError && !refused) || m.Type == chromedp.ConsoleException {
				mu.Lock()
				problems = append(problems, string(m.Type)+": "+m.Text)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stopWatch()
		<-watched
		cancelTime()
		cancelCtx()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("the page said: %s", p)
		}
	})
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main").innerText`))
		t.Fatalf("%s: %v; the page shows:\n%s", what, err, page)
	}
}

// notReloaded checks the page is the one mark marked: a reload would have
// dropped the mark.
func notReloaded(t *testing.T, ctx context.Context) {
	t.Helper()
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.kitaruTestMark === true`))
	if err != nil || !marked {
		t.Fatalf("the page was reloaded (%v)", err)
	}
}

var mark = chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.kitaruTestMark = true`))
	return err
})

func TestBrowser(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	gated := h.flow("gated", gatedFlow)
	ask := h.flow("ask", askFlow)

	do(t, ctx, "open the runs page",
		chromedp.Navigate(h.ts.URL+"/?token="+testToken),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Runs"]`)),
		mark)
	address, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.Contains(address, "token") {
		t.Errorf("the token stays in the address bar: %s (%v)", address, err)
	}

	// A run started elsewhere appears on the page without a reload.
	id := h.start(gated, nil)
	row := fmt.Sprintf(`tr[data-run=%q]`, id)
	do(t, ctx, "see the new run", chromedp.WaitVisible(chromedp.CSS(row)))
	notReloaded(t, ctx)

	// Its page shows the gated step running, then completed, live.
	gate := `tr[data-step="gate"] .status-`
	do(t, ctx, "open the run",
		chromedp.Click(chromedp.CSS(row+` a`)),
		chromedp.WaitVisible(chromedp.CSS(gate+"running")))
	notReloaded(t, ctx)
	h.open("gated")
	do(t, ctx, "see the step complete", chromedp.WaitVisible(chromedp.CSS(gate+"completed")),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	notReloaded(t, ctx)

	// The wait form answers the wait; the run then completes.
	waiting := h.start(ask, nil)
	h.until(waiting, "waiting", status(engine.RunWaiting))
	do(t, ctx, "open the waiting run",
		chromedp.Navigate(h.ts.URL+"/runs/"+waiting),
		chromedp.WaitVisible(chromedp.CSS(`form.wait`)))
	screenshot(t, ctx, "web-ui-run.png") // a run waiting for its answer
	do(t, ctx, "answer yes", chromedp.Click(chromedp.CSS(`#w-ship-value`)))
	do(t, ctx, "send the answer", chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)))
	do(t, ctx, "see the run complete",
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-step="after"] .status-completed`)))
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-step="after"] .step-output`)))
	if err != nil || shown != "shipped true" {
		t.Errorf("the page shows the step's output as %q (%v)", shown, err)
	}
	done := h.until(waiting, "completed", status(engine.RunCompleted))
	if out := done.Steps[1].Output; out != "shipped true" {
		t.Errorf("the answer reached the run as %v", out)
	}
}

// The wait form is made from the wait's JSON Schema: an enum is a choice,
// an integer a number field, a string a text field, a boolean a checkbox.
func TestBrowserWaitFormFromSchema(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.start(h.flow("details", `name: details
steps:
  where:
    kind: wait
    question: Where should it go?
    schema:
      type: object
      required: [channel]
      properties:
        channel: {type: string, enum: [blog, newsletter]}
        count: {type: integer}
        note: {type: string}
        urgent: {type: boolean}
`), nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	do(t, ctx, "open the waiting run",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`form.wait`)))
	do(t, ctx, "fill the form",
		chromedp.SetValue(chromedp.ID("w-where-channel"), "1"),
		chromedp.SendKeys(chromedp.ID("w-where-count"), "3"),
		chromedp.SendKeys(chromedp.ID("w-where-note"), "by Friday"),
		chromedp.Click(chromedp.ID("w-where-urgent")),
		chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	run := h.until(id, "completed", status(engine.RunCompleted))
	got, _ := json.Marshal(run.Steps[0].Output)
	if want := `{"channel":"newsletter","count":3,"note":"by Friday","urgent":true}`; string(got) != want {
		t.Errorf("the answer is %s, want %s", got, want)
	}
}

// Replaying from a step makes a new run, whose page marks the steps it
// reused.
func TestBrowserReplay(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	src := h.start(h.flow("two", `name: two
steps:
  first: {kind: checkpoint, run: echo one}
  second: {kind: checkpoint, needs: [first], run: echo two}
`), nil)
	h.until(src, "completed", status(engine.RunCompleted))
	do(t, ctx, "replay from the second step",
		chromedp.Navigate(h.ts.URL+"/runs/"+src+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.SetValue(chromedp.ID("r-from"), "second"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Replay"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-step="first"] .status-reused`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-step="second"] .status-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/runs/`+src+`"]`)))
	address, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.HasSuffix(address, src) {
		t.Fatalf("the page stayed on the source run: %s (%v)", address, err)
	}
}

// The runs page's form starts a flow file with inputs and shows its run.
func TestBrowserStartForm(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	file := h.flow("quick", quickFlow)
	do(t, ctx, "start a run from the form",
		chromedp.Navigate(h.ts.URL+"/?token="+testToken),
		chromedp.Click(chromedp.CSS(`details summary`)),
		chromedp.SendKeys(chromedp.ID("s-flow"), file),
		chromedp.SendKeys(chromedp.ID("s-inputs"), `{"who": "the form"}`),
		chromedp.Click(chromedp.CSS(`form[aria-label="Start a run"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-step="hello"] .step-output`)))
	if err != nil || shown != "hello the form" {
		t.Errorf("the run's step shows %q (%v)", shown, err)
	}
	// A flow that does not load is said on the page, the page unchanged.
	do(t, ctx, "start a flow that is not there",
		chromedp.Navigate(h.ts.URL+"/"),
		chromedp.Click(chromedp.CSS(`details summary`)),
		chromedp.SendKeys(chromedp.ID("s-flow"), "absent.yaml"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Start a run"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Start a run"] .error`)))
	said, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`form[aria-label="Start a run"] .error`)))
	if !strings.Contains(said, "absent.yaml") {
		t.Errorf("the page says %q", said)
	}
}

// A step's page shows what it prints while it runs, then its output.
func TestBrowserStepPage(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.start(h.flow("talk", `name: talk
steps:
  talk:
    kind: checkpoint
    run: 'echo first line; while [ ! -f GATE ]; do sleep 0.02; done; echo second line; sleep 0.3'
`), nil)
	h.until(id, "talk running", func(r *engine.Run) bool { return stepStatus(r, "talk") == engine.StepRunning })
	// The run's page patches its rows at each event (they stay the same
	// elements), so the step's link is clicked while the step runs.
	do(t, ctx, "open the run, then its step",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="talk"]`)),
		mark,
		chromedp.Click(chromedp.CSS(`tr[data-step="talk"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-running`)))
	if got := location(t, ctx); got != h.ts.URL+"/runs/"+id+"/steps/talk" {
		t.Fatalf("the step's link went to %s", got)
	}
	h.open("talk")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.getElementById("step-live") || {}).textContent?.includes("second line")`)); err != nil {
		t.Fatalf("the printed line never showed live: %v", err)
	}
	do(t, ctx, "see it complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.WaitVisible(chromedp.ID("step-output")))
	notReloaded(t, ctx)
	out, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("step-output")))
	if !strings.Contains(out, "first line") || !strings.Contains(out, "second line") {
		t.Errorf("the step's output shows %q", out)
	}
}
