package cli

import (
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

const cachedFlow = `name: cached
defaults:
  model: openai/gpt-4o-mini
  cache: true
steps:
  outline:
    kind: llm
    prompt: Outline durable agents
  draft:
    kind: llm
    prompt: Draft from ${{ steps.outline.output }}
output: ${{ steps.draft.output }}
`

// cache: through the binary and the real OpenAI client: a second run
// sends nothing and says where each answer came from; --no-cache on run
// and replay sends every request again; a replay --from that runs a
// cached step again takes its answer from the cache and says why it ran.
func TestE2ECache(t *testing.T) {
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("cached.yaml", cachedFlow)
	sent := func() int { r, _ := srv.snapshot(); return len(r) }

	first := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	if sent() != 2 {
		t.Fatalf("the first run sent %d requests, want 2", sent())
	}
	second := decodeRun(t, e.must(0, "run", flow, "--json", "--quiet").Stdout)
	if sent() != 2 {
		t.Fatalf("the second run sent %d requests, want none", sent()-2)
	}
	if second.Output != first.Output || second.CostUSD != 0 || second.Usage.Total() != 0 {
		t.Errorf("second run: output %v (want %v), cost %v, usage %+v", second.Output, first.Output, second.CostUSD, second.Usage)
	}
	for _, id := range []string{"outline", "draft"} {
		if s := stepOf(t, second, id); s.Why == nil || s.Why.Code != runstore.ReasonCached || s.Why.Run != first.ID {
			t.Errorf("step %s: why %+v, want cached from %s", id, s.Why, first.ID)
		}
	}
	got := e.must(0, "executions", "get", second.ID).Stdout
	if want := "answer cached from " + first.ID; !strings.Contains(got, want) {
		t.Errorf("executions get does not say %q:\n%s", want, got)
	}

	e.must(0, "run", flow, "--no-cache", "--quiet")
	if sent() != 4 {
		t.Fatalf("run --no-cache sent %d requests, want 2", sent()-2)
	}
	e.must(0, "replay", first.ID, "--from", "draft", "--no-cache", "--quiet")
	if sent() != 5 {
		t.Fatalf("replay --from draft --no-cache sent %d requests, want 1", sent()-4)
	}
	rp := decodeRun(t, e.must(0, "replay", first.ID, "--from", "draft", "--json", "--quiet").Stdout)
	if sent() != 5 {
		t.Fatalf("replay --from draft sent %d requests, want none (cached)", sent()-5)
	}
	d := stepOf(t, rp, "draft")
	if d.Why == nil || d.Why.Code != runstore.ReasonCached || d.Why.Though == nil || d.Why.Though.Code != runstore.ReasonFrom {
		t.Fatalf("replayed draft: why %+v, want cached, though --from", d.Why)
	}
	got = e.must(0, "executions", "get", rp.ID).Stdout
	if !strings.Contains(got, "answer cached from") || !strings.Contains(got, "it ran again: --from draft") {
		t.Errorf("executions get of the replay:\n%s", got)
	}
}
