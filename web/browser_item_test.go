package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/fakellm"
)

const askAgentFlow = `name: askagent
tools:
  ask:
    kind: wait
    question: ${{ args.question }}
    parameters: {type: object, properties: {question: {type: string}}, required: [question]}
    schema:
      type: object
      required: [city]
      properties:
        city: {type: string, enum: [Paris, Rome]}
        note: {type: string}
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: Pick a city.
    tools: [ask]
`

// askingAgent is a browser on a harness whose model calls tool ask (of
// askAgentFlow), then answers with answer.
func askingAgent(t *testing.T, answer string) (*fakellm.Server, *harness, context.Context) {
	llm := fakellm.New("openai",
		fakellm.Turn{Calls: fakellm.Calls("ask", `{"question":"Which city?"}`)},
		fakellm.Turn{Text: answer})
	t.Cleanup(llm.Close) // after the harness's, which stops its runs
	h := modelHarness(t, llm)
	return llm, h, h.browser(t)
}

// A kind: wait tool's question, asked inside an agent loop, is answered
// on the step's page with a form made from the tool's schema; the answer
// is the call's result, sent to the model, and the run completes.
func TestBrowserToolWaitOnStepPage(t *testing.T) {
	llm, h, ctx := askingAgent(t, "Rome it is.")
	id := h.start(h.flow("askagent", askAgentFlow), nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	do(t, ctx, "open the waiting step",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"/steps/research?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`form.wait`)),
		mark)
	if got := text(t, ctx, `form.wait .wait-call`); !strings.Contains(got, "ask") || !strings.Contains(got, "turn 1") {
		t.Errorf("the form says who asks: %q", got)
	}
	if got := text(t, ctx, `form.wait pre`); got != "Which city?" {
		t.Errorf("the form asks %q", got)
	}
	screenshot(t, ctx, "web-ui-tool-wait.png")
	do(t, ctx, "answer Rome",
		chromedp.SetValue(chromedp.ID("w-research-city"), "1"),
		chromedp.SendKeys(chromedp.ID("w-research-note"), "for the food"),
		chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)))
	actionDone(t, ctx, "Answered", id)
	do(t, ctx, "see the step complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form.wait`)),
		chromedp.WaitVisible(chromedp.CSS(`#turns [data-turn="2"]`)))
	notReloaded(t, ctx)
	run := h.until(id, "completed", status(engine.RunCompleted))
	if out := run.Steps[0].Output; out != "Rome it is." {
		t.Errorf("the step's output is %v", out)
	}
	reqs := llm.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the model was asked %d times", len(reqs))
	}
	var answer map[string]any
	for _, r := range reqs[1].Results {
		_ = json.Unmarshal([]byte(r), &answer)
	}
	if answer["city"] != "Rome" || answer["note"] != "for the food" {
		t.Errorf("the model got %v as the tool's result", reqs[1].Results)
	}
	if got := text(t, ctx, `#turns [data-turn="1"] .call`); !strings.Contains(got, "Rome") {
		t.Errorf("the call shows %q", got)
	}
}

const itemsFlow = `name: items
steps:
  each:
    kind: checkpoint
    foreach: '${{ ["red", "green", "blue"] }}'
    retry: {attempts: 2, backoff: 10ms}
    run: 'echo "painting ${{ item }}"; if [ "${{ item }}" = green ] && [ ! -f GATE ]; then touch GATE; echo "green ran dry" >&2; exit 1; fi; echo "colour ${{ item }}"'
`

// A foreach item has a page of its own, linked from its step's items:
// its status, output, attempts with their errors, its log, tokens and
// cost.
func TestBrowserItemPage(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.completed(h.flow("items", itemsFlow), nil)
	do(t, ctx, "open the foreach step",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"/steps/each?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#items [data-item="1"] a`)),
		mark,
		chromedp.Click(chromedp.CSS(`#items [data-item="1"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#attempts`)))
	notReloaded(t, ctx)
	if got := location(t, ctx); got != h.ts.URL+"/runs/"+id+"/steps/each/items/1" {
		t.Errorf("the item's link went to %s", got)
	}
	checks := []struct{ sel, want string }{
		{`h1`, "Item 1 of each completed"},
		{`#step-output`, "painting green\ncolour green"},
		{`#attempts [data-attempt="1"] td:last-child`, "green ran dry"},
		{`#attempts [data-attempt="2"] td:last-child`, "succeeded"},
		{`#tokens`, "0"},
		{`#cost`, "—"},
	}
	for _, c := range checks {
		if got := strings.TrimSpace(text(t, ctx, c.sel)); !strings.Contains(got, c.want) {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	// Its log is its own: green's lines, not red's or blue's.
	logs := text(t, ctx, `#step-live`)
	if !strings.Contains(logs, "painting green") || strings.Contains(logs, "red") || strings.Contains(logs, "blue") {
		t.Errorf("the item's log shows %q", logs)
	}
	do(t, ctx, "go back to the step", chromedp.Click(chromedp.CSS(`.crumbs a[href$="/steps/each"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#items`)))
	notReloaded(t, ctx)
}

// The item route answers one item as `executions get --step --item`
// does; the logs route a run's log lines, of a step or an item.
func TestItemAndLogsRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.completed(h.flow("items", itemsFlow), nil)
	var item struct {
		Item   int               `json:"item"`
		Record engine.ItemResult `json:"record"`
	}
	if code := h.do("GET", "/api/runs/"+id+"/steps/each/items/2", nil, &item); code != 200 || item.Item != 2 || item.Record.Output != "painting blue\ncolour blue" {
		t.Errorf("item 2: %d %+v", code, item)
	}
	var logs logsBody
	if code := h.do("GET", "/api/runs/"+id+"/logs?step=each&item=1", nil, &logs); code != 200 || len(logs.Lines) == 0 {
		t.Fatalf("logs: %d %+v", code, logs)
	}
	for _, l := range logs.Lines {
		if l.Step != "each" || l.Item == nil || *l.Item != 1 {
			t.Errorf("a line of another step or item: %+v", l)
		}
	}
	var all logsBody
	if h.do("GET", "/api/runs/"+id+"/logs", nil, &all); len(all.Lines) <= len(logs.Lines) {
		t.Errorf("the run's log has %d lines, item 1's %d", len(all.Lines), len(logs.Lines))
	}
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/api/runs/" + id + "/steps/each/items/7", 404, "no item 7"},
		{"/api/runs/" + id + "/steps/each/items/x", 400, "a number from 0"},
		{"/api/runs/" + id + "/steps/nope/items/0", 404, `no step "nope"`},
		{"/api/runs/kr-none/steps/each/items/0", 404, "run not found"},
		{"/api/runs/kr-none/logs", 404, "run not found"},
		{"/api/runs/" + id + "/logs?item=1", 400, "goes with its step"},
		{"/api/runs/" + id + "/logs?step=each&item=-1", 400, "a number from 0"},
	}
	for _, c := range cases {
		var e errorBody
		if code := h.do("GET", c.path, nil, &e); code != c.code || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %d %+v, want %d %q", c.path, code, e, c.code, c.want)
		}
	}
}

// manyFlow's steps finish one after another, each an event that draws
// the run's page again.
func manyFlow(n int) string {
	var b strings.Builder
	b.WriteString("name: many\nsteps:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  s%02d: {kind: checkpoint, run: 'sleep 0.04; echo %d'", i, i)
		if i > 1 {
			fmt.Fprintf(&b, ", needs: [s%02d]", i-1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// A live page patches what it shows: a row whose step changes is the
// same element after (only its cells change), so a click aimed at it
// while the run goes on lands on it.
func TestBrowserRowsStayWhileLive(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.start(h.flow("many", manyFlow(40)), nil)
	h.until(id, "s02 done", func(r *engine.Run) bool { return stepStatus(r, "s02") == engine.StepCompleted })
	do(t, ctx, "open the run while it goes on",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-step="s40"]`)),
		mark)
	// The elements shown now, held on to.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.held = {
	  row: document.querySelector('tr[data-step="s40"]'),
	  link: document.querySelector('tr[data-step="s01"] a'),
	  node: document.querySelector('#graph [data-node="s40"]'),
	}, true)`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "see s40 complete", chromedp.WaitVisible(chromedp.CSS(`tr[data-step="s40"] .status-completed`)))
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.held.row === document.querySelector('tr[data-step="s40"]') &&
	  window.held.link === document.querySelector('tr[data-step="s01"] a') &&
	  window.held.node === document.querySelector('#graph [data-node="s40"]') && window.held.row.isConnected`))
	if err != nil || !same {
		t.Errorf("the run's updates replaced the rows shown (%v)", err)
	}

	// Clicks while another run goes on reach the row they aim at.
	other := h.start(h.flow("many2", strings.Replace(manyFlow(40), "name: many", "name: many2", 1)), nil)
	h.until(other, "s02 done", func(r *engine.Run) bool { return stepStatus(r, "s02") == engine.StepCompleted })
	// (The graph drawn once it is read moves the rows down: clicks wait
	// for it, as a person's eye would.)
	drawn := chromedp.WaitVisible(chromedp.CSS(`#graph [data-node="s40"]`))
	do(t, ctx, "open the other run", chromedp.Navigate(h.ts.URL+"/runs/"+other), drawn)
	for i := range 5 {
		step := fmt.Sprintf("s%02d", i+1)
		do(t, ctx, "click "+step+" while the run goes on",
			chromedp.Click(chromedp.CSS(`tr[data-step="`+step+`"] a`)),
			chromedp.WaitVisible(chromedp.CSS(`h1 code`)))
		if got := location(t, ctx); got != h.ts.URL+"/runs/"+other+"/steps/"+step {
			t.Fatalf("the click on %s went to %s", step, got)
		}
		// Opened again rather than gone back to: NavigateBack once timed
		// out in make test waiting for the page it went back to to load.
		do(t, ctx, "open the run again", chromedp.Navigate(h.ts.URL+"/runs/"+other), drawn)
	}
	if run := h.until(other, "completed", status(engine.RunCompleted)); run == nil {
		t.Fatal("the other run did not complete")
	}
}

// The runs page keeps the rows it shows when new runs come in above them.
func TestBrowserRunRowsStay(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	quick := h.flow("quick", quickFlow)
	first := h.completed(quick, nil)
	do(t, ctx, "open the runs page",
		chromedp.Navigate(h.ts.URL+"/?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+first+`"]`)))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.held = document.querySelector('tr[data-run="`+first+`"]'), true)`)); err != nil {
		t.Fatal(err)
	}
	second := h.completed(quick, nil)
	do(t, ctx, "see the new run", chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+second+`"]`)))
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.held === document.querySelector('tr[data-run="`+first+`"]') && window.held.isConnected`))
	if err != nil || !same {
		t.Errorf("the new run's arrival replaced the older run's row (%v)", err)
	}
	order, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#runs tr")].map((tr) => tr.dataset.run)`))
	if len(order) != 2 || order[0] != second || order[1] != first {
		t.Errorf("the rows are %q, want the newest first", order)
	}
}

// The items of a foreach agent step ask in turn: an item's page answers
// the step's next question when it is the item's, and says whose comes
// first when it is not.
func TestBrowserItemWaits(t *testing.T) {
	_, h, ctx := askingAgent(t, "Done.")
	flow := strings.Replace(strings.Replace(askAgentFlow, "name: askagent", "name: itemask", 1),
		"    prompt: Pick a city.", "    foreach: '${{ [\"a\", \"b\"] }}'\n    prompt: Pick a city for ${{ item }}.", 1)
	id := h.start(h.flow("itemask", flow), nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	item := func(n int) string { return h.ts.URL + fmt.Sprintf("/runs/%s/steps/research/items/%d", id, n) }
	do(t, ctx, "open item 1, whose question comes second",
		chromedp.Navigate(item(1)+"?token="+testToken),
		chromedp.WaitVisible(chromedp.ID("wait-elsewhere")))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form.wait").length`)); n != 0 {
		t.Errorf("item 1's page has %d answer forms", n)
	}
	do(t, ctx, "follow the link to item 0 and answer it",
		chromedp.Click(chromedp.CSS(`#wait-elsewhere a`)),
		chromedp.WaitVisible(chromedp.CSS(`form.wait`)),
		chromedp.SetValue(chromedp.ID("w-research-city"), "0"),
		chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)))
	actionDone(t, ctx, "Answered", id)
	if got := location(t, ctx); got != item(0) {
		t.Errorf("the link went to %s", got)
	}
	do(t, ctx, "answer item 1 on its page",
		chromedp.Navigate(item(1)),
		chromedp.WaitVisible(chromedp.CSS(`form.wait .wait-call`)),
		chromedp.SetValue(chromedp.ID("w-research-city"), "1"),
		chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)))
	run := h.until(id, "completed", status(engine.RunCompleted))
	for i, it := range run.Steps[0].Items {
		if it.Status != engine.StepCompleted {
			t.Errorf("item %d: %s", i, it.Status)
		}
	}
}

// Each foreach item of a flow step whose child waits asks on the step's
// page, naming the item and linking its child run; the answers given there
// go to the children, and the run completes.
func TestBrowserFlowItemsWait(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	h.flow("child", "name: child\ninputs:\n  text: {type: string}\nsteps:\n  ok: {kind: wait, question: \"Approve ${{ inputs.text }}?\"}\noutput: ${{ inputs.text }} ${{ steps.ok.output }}\n")
	id := h.start(h.flow("parent", "name: parent\nsteps:\n  per:\n    kind: flow\n    flow: child.yaml\n    foreach: ${{ [\"a\", \"b\"] }}\n    inputs: {text: \"${{ item }}\"}\noutput: ${{ steps.per.output }}\n"), nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	page := h.ts.URL + "/runs/" + id + "/steps/per?token=" + testToken
	for i, answer := range []string{"yes", "no"} {
		do(t, ctx, fmt.Sprintf("answer item %d's child on the step page", i),
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS(`form.wait .wait-call a`)))
		if got := text(t, ctx, `form.wait .wait-call`); !strings.HasPrefix(got, fmt.Sprintf("Item %d's child run kr-", i)) {
			t.Errorf("the form says %q", got)
		}
		do(t, ctx, "submit",
			chromedp.SetValue(chromedp.ID("w-per-value"), answer),
			chromedp.Click(chromedp.CSS(`form.wait button[type=submit]`)))
		actionDone(t, ctx, "Answered", id)
	}
	run := h.until(id, "completed", status(engine.RunCompleted))
	if got := fmt.Sprint(run.Output); got != "[a yes b no]" {
		t.Errorf("output %s", got)
	}
}
