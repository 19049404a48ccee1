package web

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/flowspec"
)

// interrupted makes a run of flow file that stopped interrupted while its
// gated step ran (as when its process is stopped), and returns its id.
func (h *harness) interrupted(file, gated string) string {
	h.t.Helper()
	f, err := flowspec.Load(filepath.Join(h.dir, file), flowspec.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ids := make(chan string, 1)
	done := make(chan *engine.Run, 1)
	go func() {
		run, _ := h.eng.Start(ctx, engine.StartOptions{Flow: f, OnCreated: func(id string) { ids <- id }})
		done <- run
	}()
	id := <-ids
	h.until(id, gated+" running", func(r *engine.Run) bool { return stepStatus(r, gated) == engine.StepRunning })
	stop()
	if run := <-done; run == nil || run.Status != engine.RunInterrupted {
		h.t.Fatalf("the run did not stop interrupted: %+v", run)
	}
	h.released(id)
	return id
}

// actionDone waits for what the action labelled says it did, and checks
// it links to run.
func actionDone(t *testing.T, ctx context.Context, label, run string) string {
	t.Helper()
	do(t, ctx, "see what "+label+" did", chromedp.WaitVisible(chromedp.CSS(`#action-result a[href="/runs/`+run+`"]`)))
	said := text(t, ctx, "#action-result")
	if !strings.HasPrefix(said, label+": ") {
		t.Errorf("after %s the page says %q", label, said)
	}
	return said
}

// Resume, retry, cancel and abort, each from its button: the page says
// what it did, links to the run, and shows the run's new state without a
// reload.
func TestBrowserActions(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	gated := h.flow("gated", gatedFlow)

	t.Run("resume", func(t *testing.T) {
		id := h.interrupted(gated, "gate")
		do(t, ctx, "resume the interrupted run",
			chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
			chromedp.WaitVisible(chromedp.CSS(`h1 .status-interrupted`)),
			mark,
			chromedp.Click(chromedp.Search(`//button[text()="Resume"]`)))
		actionDone(t, ctx, "Resume", id)
		do(t, ctx, "see it run again", chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="gate"].st-running`)))
		h.open("gated")
		do(t, ctx, "see it complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
		notReloaded(t, ctx)
	})

	t.Run("retry", func(t *testing.T) {
		id := h.start(h.flow("flaky", flakyFlow), nil)
		h.until(id, "failed", status(engine.RunFailed))
		h.released(id)
		h.open("flaky")
		do(t, ctx, "retry the failed run",
			chromedp.Navigate(h.ts.URL+"/runs/"+id),
			chromedp.WaitVisible(chromedp.CSS(`h1 .status-failed`)),
			mark,
			chromedp.Click(chromedp.Search(`//button[text()="Retry"]`)))
		actionDone(t, ctx, "Retry", id)
		do(t, ctx, "see it complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-step="check"] .status-completed`)))
		notReloaded(t, ctx)
		if run := h.until(id, "completed", status(engine.RunCompleted)); run.Steps[0].Attempts < 1 {
			t.Errorf("retried: %+v", run.Steps[0])
		}
	})

	t.Run("cancel", func(t *testing.T) {
		id := h.start(h.flow("held", strings.ReplaceAll(gatedFlow, "name: gated", "name: held")), nil)
		h.until(id, "gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
		do(t, ctx, "cancel the running run",
			chromedp.Navigate(h.ts.URL+"/runs/"+id),
			chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="gate"].st-running`)),
			mark,
			chromedp.Click(chromedp.Search(`//button[text()="Cancel"]`)))
		actionDone(t, ctx, "Cancel", id)
		do(t, ctx, "see it cancelled", chromedp.WaitVisible(chromedp.CSS(`h1 .status-cancelled`)))
		notReloaded(t, ctx)
		h.until(id, "cancelled", status(engine.RunCancelled))
	})

	t.Run("abort", func(t *testing.T) {
		id := h.start(h.flow("ask", askFlow), nil)
		h.until(id, "waiting", status(engine.RunWaiting))
		do(t, ctx, "abort the wait",
			chromedp.Navigate(h.ts.URL+"/runs/"+id),
			chromedp.WaitVisible(chromedp.CSS(`form.wait`)),
			mark,
			chromedp.Click(chromedp.CSS(`form.wait button.abort`)))
		said := actionDone(t, ctx, "Aborted", id)
		if !strings.Contains(said, "the run is cancelled") {
			t.Errorf("after the abort the page says %q", said)
		}
		do(t, ctx, "see it cancelled, the form gone", chromedp.WaitVisible(chromedp.CSS(`h1 .status-cancelled`)),
			chromedp.WaitNotPresent(chromedp.CSS(`form.wait`)))
		notReloaded(t, ctx)
		run := h.until(id, "cancelled", status(engine.RunCancelled))
		if run.Ending == nil || run.Ending.Code != "aborted" {
			t.Errorf("the run ended %+v, not aborted", run.Ending)
		}
	})
}

// A replay's page compares it with its source, step by step: which
// steps differ and in what, each side's values, the totals.
func TestBrowserCompare(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	src := h.completed(h.flow("two", twoFlow), nil)
	var res actionResult
	h.do("POST", "/api/runs/"+src+"/replay", map[string]any{"inputs": map[string]any{"word": "deux"}}, &res)
	h.until(res.ID, "completed", status(engine.RunCompleted))
	do(t, ctx, "compare the replay with its source",
		chromedp.Navigate(h.ts.URL+"/runs/"+res.ID+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		mark,
		chromedp.Click(chromedp.CSS(`form[aria-label="Compare"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#compare-steps [data-step="second"].differs`)))
	notReloaded(t, ctx)
	if got := location(t, ctx); got != h.ts.URL+"/compare?a="+res.ID+"&b="+src {
		t.Errorf("the comparison's address is %s", got)
	}
	checks := []struct{ sel, want string }{
		{`#compare-verdict`, "The runs differ."},
		{`#compare-steps [data-step="first"] .step-differs`, "—"},
		{`#compare-steps [data-step="second"] .step-differs`, "inputs, output"},
		{`#compare-inputs tbody tr`, "worddeuxtwo"},
		{`[data-diff="second"] [data-part="output"] .diff-sides`, "AdeuxBtwo"},
		{`#compare-runs tr:first-child td:nth-child(2)`, res.ID},
	}
	for _, c := range checks {
		if got := strings.TrimSpace(text(t, ctx, c.sel)); got != c.want {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	screenshot(t, ctx, "web-ui-compare.png")
	// The runs of a comparison are links; an unknown run is said.
	do(t, ctx, "compare with a run that is not there",
		chromedp.SetValue(chromedp.ID("c-b"), "kr-nosuchrun"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Runs to compare"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#compare .error`)))
	if said := text(t, ctx, "#compare .error"); !strings.Contains(said, "kr-nosuchrun") {
		t.Errorf("the page says %q", said)
	}
	do(t, ctx, "follow run A's link",
		chromedp.SetValue(chromedp.ID("c-b"), src),
		chromedp.Click(chromedp.CSS(`form[aria-label="Runs to compare"] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`#compare-runs a[href="/runs/`+src+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	if got := location(t, ctx); got != h.ts.URL+"/runs/"+src {
		t.Errorf("the link went to %s", got)
	}
}
