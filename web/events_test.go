package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// wantEvents reads the stream's next durable events and checks their types
// and steps, and that their ids count up from after without a gap.
func wantEvents(t *testing.T, s *sse, after int, want ...string) int {
	t.Helper()
	for _, w := range want {
		e := s.next(t)
		got := string(e.ev.Type)
		if e.ev.Step != "" {
			got += " " + e.ev.Step
		}
		if got != w {
			t.Fatalf("event %d: got %q, want %q", after+1, got, w)
		}
		if e.id != strconv.Itoa(after+1) {
			t.Fatalf("event %q: id %q, want %d", got, e.id, after+1)
		}
		after++
	}
	return after
}

// A page that connects mid-run gets what happened so far, then what
// happens live, each event once and in order.
func TestEventsReplayThenLive(t *testing.T) {
	t.Parallel()
	// No polling: what is live comes from the subscription alone.
	h := newHarness(t, func(c *Config) { c.Poll = time.Hour })
	id := h.start(h.flow("gated", gatedFlow), nil)
	h.until(id, "its gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	s := h.stream(id)
	n := wantEvents(t, s, 0, "run_started", "step_started first", "step_finished first", "step_started gate")
	select {
	case e := <-s.events:
		if !ephemeralEvent(e.ev.Type) {
			t.Fatalf("before the gate opened: %+v", e)
		}
	case <-time.After(300 * time.Millisecond):
	}
	h.open("gated")
	wantEvents(t, s, n, "step_finished gate", "run_finished")
	// A second tab connecting later gets the whole run.
	wantEvents(t, h.stream(id), 0, "run_started", "step_started first", "step_finished first", "step_started gate", "step_finished gate", "run_finished")
}

// A waiting run's stream stays open: the answer and the resumed run come
// through the same stream.
func TestEventsAcrossAWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Poll = time.Hour })
	id := h.start(h.flow("ask", askFlow), nil)
	h.until(id, "waiting", status(engine.RunWaiting))
	s := h.stream(id)
	n := wantEvents(t, s, 0, "run_started", "step_started ship", "step_finished ship", "run_finished")
	if code := h.do("POST", "/api/runs/"+id+"/input", map[string]any{"step": "ship", "value": true}, nil); code >= 300 {
		t.Fatalf("answer: %d", code)
	}
	// Answering journals nothing of its own; the resumed go does.
	for {
		e := s.next(t)
		if e.ev.Type == engine.EventRunFinished {
			if e.ev.Run == nil || e.ev.Run.Status != engine.RunCompleted {
				t.Fatalf("run_finished %+v", e.ev.Run)
			}
			break
		}
		if e.id != strconv.Itoa(n+1) {
			t.Fatalf("event %s %s: id %s, want %d", e.ev.Type, e.ev.Step, e.id, n+1)
		}
		n++
	}
}

// A run another process executes (a `kitaru run` in a shell) is followed
// through its journal.
func TestEventsOfAnotherProcess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	other := engine.New(engine.Config{Store: h.files, WorkDir: h.dir, Holder: runstore.Holder{Host: "shell", PID: 99}})
	f, err := flowspec.Load(h.dir+"/"+h.flow("gated", gatedFlow), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *engine.Run, 1)
	go func() {
		run, _ := other.Start(context.Background(), engine.StartOptions{Flow: f, Inputs: map[string]any{}})
		done <- run
	}()
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" && time.Now().Before(deadline) {
		var p listPage
		h.do("GET", "/api/runs", nil, &p)
		if len(p.Runs) == 1 {
			id = p.Runs[0].(map[string]any)["id"].(string)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.until(id, "its gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	s := h.stream(id)
	n := wantEvents(t, s, 0, "run_started", "step_started first", "step_finished first", "step_started gate")
	h.open("gated")
	wantEvents(t, s, n, "step_finished gate", "run_finished")
	<-done
}

// A browser that reconnects says the last event it had; it gets the rest.
func TestEventsLastEventID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(h.flow("quick", quickFlow), nil)
	h.until(id, "completed", status(engine.RunCompleted))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Last-Event-ID", "2")
	res, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &sse{events: make(chan sseEvent, 16)}
	go readSSE(res, s.events)
	wantEvents(t, s, 2, "step_finished hello", "run_finished")
}

// A page that goes away ends its stream's handler (and so its
// subscription) at once, even while the run goes on.
func TestEventsClosedClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	inFlight := make(chan int, 16)
	var n int
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight <- 1
		defer func() { inFlight <- -1 }()
		h.srv.ServeHTTP(w, r)
	})
	h.ts.Config.Handler = wrapped
	id := h.start(h.flow("gated", gatedFlow), nil)
	n += <-inFlight + <-inFlight // the start's request
	h.until(id, "its gate running", func(r *engine.Run) bool { return stepStatus(r, "gate") == engine.StepRunning })
	s := h.stream(id)
	n += <-inFlight
	wantEvents(t, s, 0, "run_started")
	s.close()
	select {
	case d := <-inFlight:
		n += d
	case <-time.After(2 * time.Second):
		t.Fatal("the stream's handler still runs after its client left")
	}
	if n != 0 {
		t.Fatalf("%d requests in flight", n)
	}
	h.open("gated")
	h.until(id, "completed", status(engine.RunCompleted))
}

// An event that comes both from the journal and live is sent once.
func TestStreamSendsOnce(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	st := &stream{w: rec, fl: rec, seen: map[eventKey]bool{}}
	at := time.Now().UTC()
	journaled := engine.Event{Seq: 1, Time: at, Type: engine.EventStepStarted, RunID: "kr-x", Step: "a"}
	live := journaled
	live.Seq = 0
	next := engine.Event{Time: at.Add(time.Millisecond), Type: engine.EventStepFinished, RunID: "kr-x", Step: "a"}
	for _, e := range []struct {
		ev  engine.Event
		seq int64
	}{{journaled, 1}, {live, 0}, {next, 0}, {next, 2}} {
		if err := st.durable(e.ev, e.seq); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(rec.Body.String(), "data: "); got != 2 {
		t.Fatalf("sent %d events, want 2:\n%s", got, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "id: 2\n") || st.last != 2 {
		t.Fatalf("the live event is not numbered 2 (last %d):\n%s", st.last, rec.Body)
	}
}

// What a running step prints reaches the page live (ephemeral log events),
// and a secret it prints reaches it masked, as everywhere else.
func TestEventsLiveLogsMasked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(h.flow("chatty", `name: chatty
steps:
  talk:
    kind: checkpoint
    run: 'while [ ! -f GATE ]; do sleep 0.02; done; echo "key `+testSecret+`"; sleep 0.5; echo done'
`), nil)
	h.until(id, "talk running", func(r *engine.Run) bool { return stepStatus(r, "talk") == engine.StepRunning })
	s := h.stream(id)
	wantEvents(t, s, 0, "run_started", "step_started talk")
	h.open("chatty")
	var lines []string
	for e := range s.events {
		if e.ev.Type == engine.EventLog {
			for _, l := range e.ev.Lines {
				lines = append(lines, l.Text)
			}
		}
		if e.ev.Type == engine.EventRunFinished {
			break
		}
	}
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, "key ") || strings.Contains(joined, testSecret) {
		t.Fatalf("live log lines %q: want the line, masked", lines)
	}
	// Nor do the record, the step or the list hold it.
	for _, path := range []string{"/api/runs", "/api/runs/" + id, "/api/runs/" + id + "/steps/talk"} {
		var v any
		h.do("GET", path, nil, &v)
		if b, _ := json.Marshal(v); strings.Contains(string(b), testSecret) || (path != "/api/runs" && !strings.Contains(string(b), "key ")) {
			t.Errorf("%s: %s", path, b)
		}
	}
}
