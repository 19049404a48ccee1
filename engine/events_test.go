package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
)

// An Observer that is stuck delays nobody: the run records every step
// while the Observer still waits, and it then gets every event, in order.
func TestStuckObserverDoesNotHoldTheRun(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	release := make(chan struct{})
	var got []EventType
	obs := ObserverFunc(func(e Event) {
		if len(got) == 0 {
			<-release
		}
		got = append(got, e.Type)
	})
	eng := New(Config{Store: st, Observer: obs})
	te := newEnvOver(t, st, "")
	f := te.flow("name: x\nsteps:\n  a: {kind: checkpoint, value: 1}\n  b: {kind: checkpoint, value: '${{ steps.a.output }}'}\n")
	done := make(chan *Run)
	go func() {
		run, err := eng.Start(context.Background(), StartOptions{Flow: f, Inputs: map[string]any{}})
		if err != nil {
			t.Error(err)
		}
		done <- run
	}()
	// The run goes on while the Observer is stuck at its first event.
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, _ := st.Query(bg, runstoreQuery())
		if len(page.Runs) == 1 {
			if r, _ := st.LoadStep(bg, page.Runs[0].ID, "b"); r != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not go on while its Observer was stuck")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	run := <-done
	wantStatus(t, run, RunCompleted)
	want := []EventType{EventRunStarted, EventStepStarted, EventStepFinished, EventStepStarted, EventStepFinished, EventRunFinished}
	if strings.Join(types(got), " ") != strings.Join(types(want), " ") {
		t.Fatalf("the Observer got %v, want %v (all of them, by the time Start returned)", got, want)
	}
}

func types(ts []EventType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// A subscriber that never reads loses events, never the run's time; one
// that reads gets the run's log lines as they are written (ephemeral:
// not in the journal) and its end, and is then closed.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	stuck := te.eng.Subscribe("", 1)
	defer stuck.Close()
	all := te.eng.Subscribe("", 1000)
	defer all.Close()
	f := te.flow("name: x\nsteps:\n  say: {kind: checkpoint, run: 'echo one; echo two'}\n  n: {kind: checkpoint, value: 2}\n")
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	if stuck.Dropped() == 0 {
		t.Fatal("a full subscription dropped nothing")
	}
	var lines []string
	var typesSeen []string
	for len(typesSeen) == 0 || typesSeen[len(typesSeen)-1] != string(EventRunFinished) {
		select {
		case ev := <-all.Events():
			typesSeen = append(typesSeen, string(ev.Type))
			for _, l := range ev.Lines {
				lines = append(lines, l.Step+":"+l.Text)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no run_finished; got %v", typesSeen)
		}
	}
	if strings.Join(lines, ",") != "say:one,say:two" {
		t.Fatalf("log lines seen %q, want say's two", lines)
	}
	evs, _, _ := journal(te.store, run.ID)
	for _, ev := range evs {
		if ev.Type == EventLog {
			t.Fatalf("an ephemeral log event was journaled: %+v", ev)
		}
	}

	// A subscription to one run ends with it.
	one := te.eng.Subscribe(run.ID, 0)
	other := te.start(f, nil)
	run2, err := te.eng.Resume(bg, other.ID, 0) // completed: nothing to run, no events
	if err != nil || run2.Status != RunCompleted {
		t.Fatal(run2, err)
	}
	select {
	case ev, ok := <-one.Events():
		if ok {
			t.Fatalf("a subscription to %s got %s of %s", run.ID, ev.Type, ev.RunID)
		}
	default:
	}
	one.Close()
	if _, ok := <-one.Events(); ok {
		t.Fatal("a closed subscription delivers")
	}
}
