package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/providers"
)

// streamModels answer with chunks, streamed, after a retry, and send key.
type streamModels struct {
	chunks []string
	key    string
}

func (m streamModels) Current() (providers.Registry, error)       { return providers.Registry{}, nil }
func (m streamModels) Caller(providers.Registry) providers.Caller { return m }
func (m streamModels) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	s := providers.StreamOf(ctx)
	s.Secrets([]string{m.key})
	s.Retry(providers.Retry{Attempt: 2, MaxAttempts: 4, Status: 429, Wait: time.Second})
	for _, c := range m.chunks {
		s.Text(c)
	}
	return &providers.Response{Text: strings.Join(m.chunks, ""), Model: "fake/model", Credentials: []string{m.key}}, nil
}

// A streamed answer reaches subscribers as it arrives (the line being
// written, the retry), and the log line by line, with the key the call
// sent masked even where a piece cuts it; none of it is journaled, the
// record holds the answer whole, and a subscriber that never reads holds
// nothing up.
func TestStreamedTextIsEphemeral(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	const key = "sk-streamed-secret-0123456789"
	te.eng = New(Config{Store: te.store, Models: streamModels{key: key,
		chunks: []string{"first ", "line\nsecond ", "has sk-strea", "med-secret-0123456789 in it\n", "last"}}})
	stuck := te.eng.Subscribe("", 1)
	defer stuck.Close()
	all := te.eng.Subscribe("", 1000)
	defer all.Close()
	run := te.start(te.flow("name: s\nsteps:\n  ask: {kind: llm, model: fake, prompt: hi}\n"), nil)
	wantStatus(t, run, RunCompleted)
	if stuck.Dropped() == 0 {
		t.Error("a full subscription dropped nothing")
	}

	var partial []string
	var retries []Event
	for done := false; !done; {
		select {
		case ev := <-all.Events():
			switch ev.Type {
			case EventText:
				if ev.Step != "ask" || len(ev.Lines) != 1 {
					t.Fatalf("text event %+v, want one line of ask", ev)
				}
				partial = append(partial, ev.Lines[0].Text)
			case EventCallRetrying:
				retries = append(retries, ev)
			case EventRunFinished:
				done = true
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no run_finished")
		}
	}
	if len(partial) != 5 || partial[0] != "first " || partial[1] != "second " || partial[4] != "last" {
		t.Errorf("lines being written = %q, want one per piece, the line so far", partial)
	}
	for _, p := range partial {
		if strings.Contains(p, "sk-strea") {
			t.Errorf("a line being written shows the key's start: %q", p)
		}
	}
	if len(retries) != 1 || retries[0].Step != "ask" || retries[0].Status != 429 || retries[0].Attempt != 2 || retries[0].Total != 4 || retries[0].Delay != time.Second {
		t.Errorf("retry events %+v, want one: ask, 429, attempt 2 of 4 in 1s", retries)
	}

	lines, err := te.store.Logs(bg, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Text)
	}
	want := []string{"first line", "second has *** in it", "last"}
	if len(got) < 3 || strings.Join(got[:3], "|") != strings.Join(want, "|") {
		t.Errorf("log = %q, want it to start with %q", got, want)
	}
	evs, _, _ := journal(te.store, run.ID)
	for _, ev := range evs {
		if ephemeral(ev.Type) {
			t.Errorf("an ephemeral %s event was journaled", ev.Type)
		}
	}
	if out, _ := OutputValue(step(t, run, "ask").Output); out != "first line\nsecond has *** in it\nlast" {
		t.Errorf("output = %q, want the answer whole, masked", out)
	}
}
