package web

import (
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/fakellm"
)

const agentFlow = `name: agent
tools:
  lookup:
    description: Population of a city.
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
    run: 'while [ ! -f GATE ]; do sleep 0.02; done; echo "$CITY: 2.1 million"'
    env: {CITY: "${{ args.city }}"}
steps:
  research:
    kind: llm
    model: openai/gpt-4o-mini
    prompt: How many people live in Paris?
    tools: [lookup]
    max_turns: 4
`

// An agent loop's step page: its turns, the tool calls of each with
// their arguments and results, the model, tokens, cost and where the key
// came from; and the model's text as it streams, before the step ends.
func TestBrowserStepTurns(t *testing.T) {
	llm := fakellm.New("openai",
		fakellm.Turn{Text: "Looking it up.", Calls: fakellm.Calls("lookup", `{"city":"Paris"}`)},
		fakellm.Turn{Text: "About 2.1 million people live in Paris."})
	defer llm.Close()
	hold := make(chan struct{})
	var release sync.Once
	free := func() { release.Do(func() { close(hold) }) }
	defer free() // before llm.Close, which waits for the held answer
	paused := make(chan struct{}, 2)
	llm.Pause = func(turn int) {
		if turn == 2 {
			paused <- struct{}{}
			<-hold
		}
	}
	h := modelHarness(t, llm)
	ctx := h.browser(t)
	id := h.start(h.flow("agent", agentFlow), nil)
	h.until(id, "research running", func(r *engine.Run) bool { return stepStatus(r, "research") == engine.StepRunning })
	do(t, ctx, "open the step while its tool runs",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"/steps/research?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-running`)),
		mark)
	// The tool gives its result; the model's second turn streams its first
	// word and stops there until hold is closed: the page shows the word
	// while the step is still running.
	h.open("agent")
	<-paused
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.getElementById("step-live") || {}).textContent?.includes("About") && !!document.querySelector("h1 .status-running")`)); err != nil {
		t.Fatalf("the streamed text never showed while the step ran: %v", err)
	}
	free()
	do(t, ctx, "see it complete", chromedp.WaitVisible(chromedp.CSS(`h1 .status-completed`)),
		chromedp.WaitVisible(chromedp.CSS(`#turns [data-turn="2"]`)))
	notReloaded(t, ctx)
	h.until(id, "completed", status(engine.RunCompleted))
	checks := []struct{ sel, want string }{
		{`#turns [data-turn="1"] .turn-text`, "Looking it up."},
		{`#turns [data-turn="1"] .call .call-name`, "lookup"},
		{`#turns [data-turn="1"] .call .call-args`, `{"city":"Paris"}`},
		{`#turns [data-turn="1"] .call .call-output`, "Paris: 2.1 million"},
		{`#turns [data-turn="2"] .turn-text`, "About 2.1 million people live in Paris."},
		{`#step-output`, "About 2.1 million people live in Paris."},
		{`#model`, "openai/gpt-4o-mini"},
		{`#credential`, "environment"},
		// The fake bills 10·turn tokens in and 5 out a turn.
		{`#tokens`, "30 in, 10 out"},
	}
	for _, c := range checks {
		if got := strings.TrimSpace(text(t, ctx, c.sel)); got != c.want {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	if got := text(t, ctx, `#cost`); !strings.HasPrefix(got, "$0.0000") || got == "$0.0000" {
		t.Errorf("the cost shows %q", got)
	}
	if got := text(t, ctx, `#turns [data-turn="1"] h3`); !strings.Contains(got, "openai/gpt-4o-mini") || !strings.Contains(got, "15 tokens") {
		t.Errorf("turn 1 is headed %q", got)
	}
	if page := text(t, ctx, `main`); strings.Contains(page, testSecret) {
		t.Error("the provider key reached the page")
	}
	screenshot(t, ctx, "web-ui-step.png")
}

// Every attempt of a step is listed with its error; a foreach step's
// items each with its status and output.
func TestBrowserStepAttemptsAndItems(t *testing.T) {
	h := newHarness(t)
	ctx := h.browser(t)
	id := h.completed(h.flow("tries", `name: tries
steps:
  flaky:
    kind: checkpoint
    retry: {attempts: 3, backoff: 10ms}
    run: 'n=$(cat GATE 2>/dev/null || echo 0); n=$((n+1)); echo $n > GATE; [ $n -ge 3 ] || { echo "try $n broke" >&2; exit 1; }; echo third time'
  each:
    kind: checkpoint
    needs: [flaky]
    foreach: '${{ ["red", "green", "blue"] }}'
    run: 'echo "colour ${{ item }}"'
`), nil)
	do(t, ctx, "open the flaky step",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"/steps/flaky?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`#attempts`)))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#attempts tbody tr")].map((tr) => tr.cells[0].textContent + ": " + tr.cells[4].textContent)`))
	if err != nil || len(rows) != 3 || !strings.HasPrefix(rows[0], "1: ") || !strings.Contains(rows[0], "try 1 broke") ||
		!strings.Contains(rows[1], "try 2 broke") || rows[2] != "3: succeeded" {
		t.Errorf("the attempts show %q (%v)", rows, err)
	}
	do(t, ctx, "open the foreach step",
		chromedp.Navigate(h.ts.URL+"/runs/"+id+"/steps/each"),
		chromedp.WaitVisible(chromedp.CSS(`#items`)))
	items, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#items tbody tr")].map((tr) => tr.dataset.item + " " + tr.cells[1].textContent + " " + tr.cells[2].textContent)`))
	if err != nil || strings.Join(items, "; ") != "0 completed colour red; 1 completed colour green; 2 completed colour blue" {
		t.Errorf("the items show %q (%v)", items, err)
	}
}
