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
	id := h.start(h.flow("gated", gatedFlow), nil)
	h.until(id, "gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	do(t, ctx, "open the run",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="first"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="gate"].st-running`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline [data-step="first"] .tl-bar`)),
		mark)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#graph [data-edge="first→gate"]').length`)); n != 1 {
		t.Errorf("the graph has %d arrows from first to gate", n)
	}
	if got := text(t, ctx, `#graph [data-node="gate"] .sub`); got != "running · checkpoint" {
		t.Errorf("the gate's node says %q", got)
	}
	h.open("gated")
	do(t, ctx, "see the gate complete in the graph",
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="gate"].st-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline [data-step="gate"] .tl-bar.st-completed`)))
	notReloaded(t, ctx)
	// The gate waited for its file, the first step did not: its bar is the
	// longer, and it starts after the first one's.
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`["first", "gate"].flatMap((s) => {
		const b = document.querySelector('#timeline [data-step="' + s + '"] .tl-bar').getBoundingClientRect();
		return [b.left, b.width];
	})`))
	if err != nil || len(widths) != 4 || !(widths[3] > 10*widths[1]) || !(widths[2] >= widths[0]+widths[1]-1) {
		t.Errorf("the timeline's bars (left, width of first, then gate): %v (%v)", widths, err)
	}
	if got := text(t, ctx, `#lineage`); got != "" {
		t.Errorf("a run that is no replay and has none shows a lineage: %q", got)
	}
	screenshot(t, ctx, "web-ui-graph.png")

	// A node of the graph is a link to its step's page.
	do(t, ctx, "open a step from the graph",
		chromedp.Click(chromedp.CSS(`#graph [data-node="gate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#step-output`)))
	notReloaded(t, ctx)

	do(t, ctx, "replay from the gate",
		chromedp.Navigate(h.ts.URL+"/runs/"+id),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.SetValue(chromedp.ID("r-from"), "gate"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Replay"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#lineage #reused [data-step="first"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="first"].st-reused`)))
	replay := h.until(strings.TrimPrefix(location(t, ctx), h.ts.URL+"/runs/"), "a replay", func(r *engine.Run) bool { return r.ReplayOf != nil })
	if got := text(t, ctx, `#replay-of`); got != id+" from step gate" {
		t.Errorf("the replay says it replays %q", got)
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#reused [data-step="first"] a').getAttribute("href")`))
	if href != "/runs/"+id+"/steps/first" {
		t.Errorf("the reused step's record links to %q", href)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#reused tbody tr').length`)); n != 1 {
		t.Errorf("%d reused steps listed, want 1 (first)", n)
	}
	h.until(replay.ID, "completed", status(engine.RunCompleted))
	do(t, ctx, "back on the source, see its replay",
		chromedp.Click(chromedp.CSS(`#replay-of a`)),
		chromedp.WaitVisible(chromedp.CSS(`#replays a[href="/runs/`+replay.ID+`"]`)))
	if got := text(t, ctx, `#replays li`); !strings.Contains(got, replay.ID) || !strings.Contains(got, "from step gate") {
		t.Errorf("the source lists its replay as %q", got)
	}
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	l, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return l
}
