package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
)

// focused describes the element that has the focus.
const focused = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "";
  const name = e.getAttribute("aria-label") || e.id || (e.textContent || "").trim().slice(0, 40);
  return e.tagName.toLowerCase() + ":" + name;
})()`

// tabTo presses Tab until the focused element matches want (a JavaScript
// test of e, the focused element), and says what the focus went through.
func tabTo(t *testing.T, ctx context.Context, what, want string) []string {
	t.Helper()
	var seen []string
	for range 80 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		d, _ := chromedp.Run(ctx, chromedp.Evaluate[string](focused))
		seen = append(seen, d)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`((e) => !!e && (`+want+`))(document.activeElement)`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			// What has the focus shows it.
			ring, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.activeElement;
				if (e instanceof SVGElement) return "svg";
				const s = getComputedStyle(e); return s.outlineStyle + " " + s.outlineWidth; })()`))
			if ring != "svg" && (strings.HasPrefix(ring, "none") || strings.HasSuffix(ring, " 0px")) {
				t.Errorf("%s has the focus without showing it (outline %s)", what, ring)
			}
			return seen
		}
	}
	t.Fatalf("Tab never reached %s; the focus went through %q", what, seen)
	return nil
}

func press(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
		t.Fatal(err)
	}
}

// Everything a person does on the pages can be done with the keyboard:
// Tab reaches the controls in order, Enter and Space use them.
func TestBrowserKeyboard(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	failed := h.start(h.flow("flaky", flakyFlow), nil)
	h.until(failed, "failed", status(engine.RunFailed))
	h.released(failed)
	do(t, ctx, "open the runs page",
		chromedp.Navigate(h.ts.URL+"/?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+failed+`"]`)))
	seen := tabTo(t, ctx, "the filter's button", `e.tagName === "BUTTON" && e.textContent === "Filter"`)
	if want := "a:Skip to content"; len(seen) == 0 || seen[0] != want {
		t.Errorf("the first Tab goes to %q, want %q", seen, want)
	}
	tabTo(t, ctx, "the start form", `e.tagName === "SUMMARY"`)
	press(t, ctx, "\r")
	do(t, ctx, "Enter opens the start form", chromedp.WaitVisible(chromedp.ID("s-flow")))
	tabTo(t, ctx, "the flow field", `e.id === "s-flow"`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(h.flow("quick", quickFlow))); err != nil {
		t.Fatal(err)
	}
	tabTo(t, ctx, "the Run button", `e.tagName === "BUTTON" && e.textContent === "Run"`)
	press(t, ctx, "\r")
	do(t, ctx, "Enter starts the run", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-step="hello"] .status-completed`)))

	do(t, ctx, "back to the runs", chromedp.Navigate(h.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+failed+`"]`)))
	tabTo(t, ctx, "the failed run's link", `e.closest && !!e.closest('tr[data-run="`+failed+`"]')`)
	press(t, ctx, "\r")
	do(t, ctx, "Enter opens the run", chromedp.WaitVisible(chromedp.CSS(`h1 .status-failed`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="check"]`)))
	h.open("flaky")
	tabTo(t, ctx, "the graph's node", `e.dataset && e.dataset.node === "check"`)
	tabTo(t, ctx, "the Retry button", `e.tagName === "BUTTON" && e.textContent === "Retry"`)
	press(t, ctx, "\r")
	actionDone(t, ctx, "Retry", failed)
	do(t, ctx, "the retry completes", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	tabTo(t, ctx, "the graph's node", `e.dataset && e.dataset.node === "check"`)
	press(t, ctx, "\r")
	do(t, ctx, "Enter on a node opens its step", chromedp.WaitVisible(chromedp.CSS(`#step-output`)))

	// A wait answered from the keyboard: Space ticks the box, Enter sends.
	waiting := h.start(h.flow("ask", askFlow), nil)
	h.until(waiting, "waiting", status(engine.RunWaiting))
	do(t, ctx, "open the waiting run", chromedp.Navigate(h.ts.URL+"/runs/"+waiting), chromedp.WaitVisible(chromedp.CSS(`form.wait`)))
	tabTo(t, ctx, "the answer's box", `e.id === "w-ship-value"`)
	press(t, ctx, " ")
	tabTo(t, ctx, "the Answer button", `e.tagName === "BUTTON" && e.textContent === "Answer"`)
	press(t, ctx, "\r")
	do(t, ctx, "the run completes", chromedp.WaitVisible(chromedp.CSS(`tr[data-step="after"] .status-completed`)))
	if run := h.until(waiting, "completed", status(engine.RunCompleted)); run.Steps[1].Output != "shipped true" {
		t.Errorf("the keyboard's answer reached the run as %v", run.Steps[1].Output)
	}
}

// wideFlow has a graph wider than a narrow window and a step whose output
// is one long word.
const wideFlow = `name: wide
steps:
  one: {kind: checkpoint, run: echo 1}
  two: {kind: checkpoint, needs: [one], run: echo 2}
  three: {kind: checkpoint, needs: [two], run: echo 3}
  four_with_a_long_name: {kind: checkpoint, needs: [three], run: 'printf "%0300d" 0'}
`

// On a window 400 px wide no page scrolls sideways: what is wider (the
// graph, a table) scrolls in its own box.
func TestBrowserNarrowWindow(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.completed(h.flow("wide", wideFlow), nil)
	var res actionResult
	h.do("POST", "/api/runs/"+id+"/replay", map[string]any{"from": "three"}, &res)
	h.until(res.ID, "completed", status(engine.RunCompleted))
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(400, 800), chromedp.Navigate(h.ts.URL+"/?token="+testToken))
	pages := []struct{ path, ready string }{
		{"/", `tr[data-run="` + id + `"]`},
		{"/runs/" + res.ID, `#timeline [data-step="three"]`},
		{"/runs/" + id + "/steps/four_with_a_long_name", `#step-output`},
		{"/compare?a=" + res.ID + "&b=" + id, `#compare-steps`},
	}
	for _, p := range pages {
		do(t, ctx, "open "+p.path, chromedp.Navigate(h.ts.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		if p.path == "/" {
			do(t, ctx, "open the start form", chromedp.Click(chromedp.CSS(`details summary`)))
		}
		widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		if err != nil || len(widths) != 2 || widths[0] > widths[1] {
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap, .graph-wrap")).slice(0, 5).map((e) => e.tagName + "." + e.className)`))
			t.Errorf("%s scrolls sideways on a 400 px window: page %v px wide (%v); too wide: %v", p.path, widths, err, wide)
		}
	}
	do(t, ctx, "the run's page", chromedp.Navigate(h.ts.URL+"/runs/"+res.ID), chromedp.WaitVisible(chromedp.CSS(`#graph`)))
	screenshot(t, ctx, "web-ui-narrow.png")
	// The graph is wider than the window: its own box scrolls.
	g, _ := chromedp.Run(ctx, chromedp.Evaluate[[]int](`(() => { const g = document.getElementById("graph"); return [g.scrollWidth, g.clientWidth]; })()`))
	if len(g) != 2 || g[0] <= g[1] {
		t.Errorf("the graph is %v (scroll, client) px wide: the test's flow no longer makes it wider than the window", g)
	}
}

// contrast is, for each element a selector picks, the contrast ratio of
// its text to what is behind it (WCAG's formula).
const contrast = `((sels) => {
  const rgb = (c) => { const m = c.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = ({ r, g, b }) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (e) => {
    for (; e; e = e.parentElement) {
      if (e instanceof SVGElement && e.tagName === "text") {
        const rect = e.parentElement.querySelector("rect");
        if (rect) return rgb(getComputedStyle(rect).fill);
      }
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255 };
  };
  const out = {};
  for (const sel of sels) {
    const e = document.querySelector(sel);
    if (!e) { out[sel] = -1; continue; }
    const s = getComputedStyle(e);
    const fg = rgb(e instanceof SVGElement ? s.fill : s.color);
    const a = lum(fg), b = lum(behind(e));
    out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  out.background = lum(behind(document.body));
  return out;
})`

// In dark and in light mode (prefers-color-scheme) every kind of text
// stands out from what is behind it by WCAG AA's 4.5:1.
func TestBrowserColourSchemes(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	ok := h.completed(h.flow("gated", strings.ReplaceAll(gatedFlow, "while [ ! -f GATE ]; do sleep 0.02; done; ", "")), nil)
	bad := h.start(h.flow("flaky", flakyFlow), nil)
	h.until(bad, "failed", status(engine.RunFailed))
	wait := h.start(h.flow("ask", askFlow), nil)
	h.until(wait, "waiting", status(engine.RunWaiting))
	pages := []struct {
		path, ready string
		sels        []string
	}{
		{"/", `tr[data-run="` + bad + `"]`, []string{"h1", "th", "td a", "label", ".status-completed", ".status-failed", ".status-waiting", "button", "input", ".top .brand", "nav a"}},
		{"/runs/" + bad, `#graph`, []string{".meta dt", ".meta dd", "p.error", "#graph .node .name", "#graph .node .sub", ".tl-time", "button", "select", "pre"}},
		{"/runs/" + wait, `form.wait`, []string{"form.wait h2", "form.wait pre", "form.wait button.primary", "form.wait button.abort", `#graph [data-node="ship"] .sub`}},
		{"/runs/" + ok, `#graph`, []string{`#graph [data-node="gate"] .sub`, ".note", "td.num"}},
	}
	for _, scheme := range []string{"light", "dark"} {
		do(t, ctx, scheme+" mode", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}), chromedp.Navigate(h.ts.URL+"/?token="+testToken))
		for _, p := range pages {
			do(t, ctx, scheme+": open "+p.path, chromedp.Navigate(h.ts.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](contrast+"("+jsonList(p.sels)+")"))
			if err != nil {
				t.Fatal(err)
			}
			bg := got["background"]
			if scheme == "dark" && bg > 0.05 || scheme == "light" && bg < 0.8 {
				t.Errorf("%s: %s's background has luminance %.2f", scheme, p.path, bg)
			}
			for _, sel := range p.sels {
				switch r := got[sel]; {
				case r < 0:
					t.Errorf("%s: %s has no %s", scheme, p.path, sel)
				case r < 4.5:
					t.Errorf("%s: %s: %s stands out by %.2f:1, under 4.5:1", scheme, p.path, sel, r)
				}
			}
		}
		if scheme == "dark" {
			do(t, ctx, "the failed run", chromedp.Navigate(h.ts.URL+"/runs/"+bad), chromedp.WaitVisible(chromedp.CSS(`#graph`)))
			screenshot(t, ctx, "web-ui-dark.png")
		}
	}
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// The page of a live run is drawn again at each of its events; what has
// the focus keeps it (here a node of the graph, then a step's link).
func TestBrowserFocusStaysLive(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.start(h.flow("report", reportFlow), nil)
	h.until(id, "translate running", func(r *engine.Run) bool { return stepStatus(r, "translate") == engine.StepRunning })
	do(t, ctx, "open the run", chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="translate"].st-running`)))
	tabTo(t, ctx, "the translate node", `e.dataset && e.dataset.node === "translate"`)
	h.open("report")
	do(t, ctx, "see the run complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](focused)); got != "a:translate: completed, after fetch" {
		t.Errorf("after the run's events the focus is on %q", got)
	}
}
