package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
)

// screenshot keeps what the page shows as docs/NAME when
// KITARU_UPDATE_SCREENSHOTS is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("KITARU_UPDATE_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text is what the element sel shows ("" when there is none).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(sel)+`) || {}).textContent || ""`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// The run page draws the step graph of the recorded flow, whose nodes
// change status live; a timeline of the steps; and the replay lineage:
// what a replay replays, where each reused step's record is, and, on the
// source's page, the replays made from it.
func TestBrowserRunGraphTimelineLineage(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.start(h.flow("report", reportFlow), nil)
	h.until(id, "translate running", func(r *engine.Run) bool { return stepStatus(r, "translate") == engine.StepRunning })
	do(t, ctx, "open the run",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="fetch"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="summarize"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="translate"].st-running`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="publish"].st-pending`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline [data-step="fetch"] .tl-bar`)),
		mark)
	edges, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#graph [data-edge]")].map((e) => e.dataset.edge)`))
	if got := strings.Join(edges, " "); got != "fetch→summarize fetch→translate summarize→publish translate→publish" {
		t.Errorf("the graph's arrows: %s", got)
	}
	// Stages left to right: translate beside summarize, publish after both.
	xs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`["fetch", "summarize", "translate", "publish"].map((s) => document.querySelector('#graph [data-node="' + s + '"] rect').getBoundingClientRect().left)`))
	if len(xs) != 4 || !(xs[0] < xs[1] && xs[1] == xs[2] && xs[2] < xs[3]) {
		t.Errorf("the nodes' left edges: %v", xs)
	}
	if got := text(t, ctx, `#graph [data-node="translate"] .sub`); got != "running · checkpoint" {
		t.Errorf("the translate node says %q", got)
	}
	screenshot(t, ctx, "web-ui-graph.png")
	h.open("report")
	do(t, ctx, "see the steps complete in the graph",
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="translate"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="publish"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline [data-step="publish"] .tl-bar.st-completed`)))
	notReloaded(t, ctx)
	// translate waited for its file, fetch did not: its bar is the longer,
	// and it starts after fetch's ends.
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`["fetch", "translate"].flatMap((s) => {
		const b = document.querySelector('#timeline [data-step="' + s + '"] .tl-bar').getBoundingClientRect();
		return [b.left, b.width];
	})`))
	if err != nil || len(widths) != 4 || !(widths[3] > widths[1]) || !(widths[2] >= widths[0]+widths[1]-1) {
		t.Errorf("the timeline's bars (left, width of fetch, then translate): %v (%v)", widths, err)
	}
	if got := text(t, ctx, `#lineage`); got != "" {
		t.Errorf("a run that is no replay and has none shows a lineage: %q", got)
	}

	// A node of the graph is a link to its step's page.
	do(t, ctx, "open a step from the graph",
		chromedp.Click(chromedp.CSS(`#graph [data-node="translate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#step-output`)))
	notReloaded(t, ctx)

	do(t, ctx, "replay from translate",
		chromedp.Navigate(h.ts.URL+"/runs/"+id),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.SetValue(chromedp.ID("r-from"), "translate"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Replay"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#lineage #reused [data-step="fetch"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="summarize"].st-reused`)))
	replay := h.until(strings.TrimPrefix(location(t, ctx), h.ts.URL+"/runs/"), "a replay", func(r *engine.Run) bool { return r.ReplayOf != nil })
	if got := text(t, ctx, `#replay-of`); got != id+" from step translate" {
		t.Errorf("the replay says it replays %q", got)
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#reused [data-step="fetch"] a').getAttribute("href")`))
	if href != "/runs/"+id+"/steps/fetch" {
		t.Errorf("the reused step's record links to %q", href)
	}
	reused, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#reused tbody tr")].map((tr) => tr.dataset.step)`))
	if strings.Join(reused, " ") != "fetch summarize" {
		t.Errorf("the reused steps listed: %v, want fetch and summarize", reused)
	}
	h.until(replay.ID, "completed", status(engine.RunCompleted))
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#replay-of a").getAttribute("href")`)); href != "/runs/"+id {
		t.Errorf("the replay links its source as %q", href)
	}
	do(t, ctx, "on the source, see its replay",
		chromedp.Navigate(h.ts.URL+"/runs/"+id),
		chromedp.WaitVisible(chromedp.CSS(`#replays a[href="/runs/`+replay.ID+`"]`)))
	if got := text(t, ctx, `#replays li`); !strings.Contains(got, replay.ID) || !strings.Contains(got, "from step translate") {
		t.Errorf("the source lists its replay as %q", got)
	}
}

// reportFlow fans out from fetch and joins at publish; translate waits
// for GATE.
const reportFlow = `name: report
steps:
  fetch: {kind: checkpoint, run: echo data}
  summarize: {kind: checkpoint, needs: [fetch], run: echo summary}
  translate: {kind: checkpoint, needs: [fetch], run: 'while [ ! -f GATE ]; do sleep 0.02; done; echo traduction'}
  publish: {kind: checkpoint, needs: [summarize, translate], run: echo published}
`

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	l, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return l
}
