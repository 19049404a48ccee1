//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/providers"
)

// A signal meant for the whole run can reach a step's command before it
// reaches kitaru (a ^C typed while the command is being forked, or a
// supervisor signalling every process at once). The command then dies of
// SIGINT or SIGTERM just before the run's context ends: the step was stopped
// by the interruption, so it must stay unrecorded (resume runs it), never be
// failed and never be retried.
func TestStepKilledBySignalWithTheRunIsInterrupted(t *testing.T) {
	t.Parallel()
	// Each flow has a step that writes its shell's pid (= its process
	// group) to COUNTER/victim.pid and sleeps until COUNTER/go exists.
	const sleeper = `if [ ! -f COUNTER/go ]; then echo $$ > COUNTER/victim.tmp; mv COUNTER/victim.tmp COUNTER/victim.pid; sleep 30; fi`
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		flow string
		// check looks at the interrupted run's record.
		check func(t *testing.T, te *testEnv, run *Run)
		// counts after resume: counter file → lines.
		counts map[string]int
		// settled, when set, holds once the steps that are to finish
		// before the signal have.
		settled func(te *testEnv) bool
	}{
		{name: "plain step SIGINT", sig: syscall.SIGINT, flow: `
name: sig
steps:
  first:
    kind: checkpoint
    run: echo x >> COUNTER/first; echo one
  victim:
    kind: checkpoint
    needs: [first]
    run: echo x >> COUNTER/victim; ` + sleeper + `; echo two
`,
			counts: map[string]int{"first": 1, "victim": 2}},
		{name: "retried step SIGTERM", sig: syscall.SIGTERM, flow: `
name: sig
steps:
  victim:
    kind: checkpoint
    retry: {attempts: 3}
    run: echo x >> COUNTER/victim; ` + sleeper + `; echo two
`,
			check: func(t *testing.T, te *testEnv, run *Run) {
				// The stop used no attempt: nothing was retried.
				if n := te.count("victim"); n != 1 {
					t.Errorf("the interrupted step ran %d times before the run stopped, want 1 (no retry)", n)
				}
				if evs := te.events.of(EventStepRetrying); len(evs) != 0 {
					t.Errorf("retrying events for a step stopped by the interruption: %+v", evs)
				}
			},
			counts: map[string]int{"victim": 2}},
		{name: "foreach item SIGINT", sig: syscall.SIGINT, flow: `
name: sig
inputs:
  xs: {type: list, default: [a, b]}
steps:
  victim:
    kind: checkpoint
    foreach: inputs.xs
    run: echo x >> COUNTER/${{ item }}; if [ ${{ item }} = b ]; then ` + sleeper + `; fi; echo ${{ item }}
`,
			check: func(t *testing.T, te *testEnv, run *Run) {
				victim := step(t, run, "victim")
				for _, it := range victim.Items {
					if it.Status != StepCompleted {
						t.Errorf("item %d recorded %s (%v), want only finished items recorded", it.Index, it.Status, it.Error)
					}
				}
				// Its record lists the finished item; the list yields two.
				if len(victim.Items) != 1 || victim.ItemCount != 2 {
					t.Errorf("the interrupted step has %d items recorded of %d, want 1 of 2", len(victim.Items), victim.ItemCount)
				}
			},
			counts:  map[string]int{"a": 1, "b": 2},
			settled: func(te *testEnv) bool { return len(te.events.of(EventItemFinished)) > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newEnv(t)
			f := te.flow(tc.flow)
			in, err := f.BindInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				pidFile := filepath.Join(te.counter, "victim.pid")
				for {
					if _, err := os.Stat(pidFile); err == nil {
						break
					}
					if ctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				for tc.settled != nil && !tc.settled(te) && ctx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
				data, _ := os.ReadFile(pidFile)
				pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
				if err != nil || pid <= 0 {
					return // the test fails: the run is never interrupted
				}
				// The command's group gets the signal first, as when it
				// wins the race; kitaru's context ends a moment later.
				syscall.Kill(-pid, tc.sig)
				processGone(pid)
				time.Sleep(200 * time.Millisecond)
				cancel()
			}()
			run, err := te.eng.Start(ctx, StartOptions{Flow: f, Inputs: in})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunInterrupted)
			if s := step(t, run, "victim"); s.Status != StepPending {
				t.Fatalf("the step stopped with the run is %s (%v); it must stay unrecorded so resume runs it", s.Status, derefStr(s.Error))
			}
			got, err := te.eng.Get(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, RunInterrupted)
			if s := step(t, got, "victim"); s.Status != StepPending {
				t.Fatalf("recorded: the step stopped with the run is %s (%v)", s.Status, derefStr(s.Error))
			}
			if tc.check != nil {
				tc.check(t, te, got)
			}
			os.WriteFile(filepath.Join(te.counter, "go"), nil, 0o600)
			done, err := te.eng.Resume(t.Context(), run.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, done, RunCompleted)
			for name, want := range tc.counts {
				if got := te.count(name); got != want {
					t.Errorf("%s ran %d times in all, want %d", name, got, want)
				}
			}
		})
	}
}

// A command that kills itself with SIGINT while the run goes on is a
// failure like any other (after the short wait for an interruption).
func TestStepKilledBySignalAloneFails(t *testing.T) {
	defer func(g time.Duration) { runSignalGrace = g }(runSignalGrace)
	runSignalGrace = 50 * time.Millisecond
	te := newEnv(t)
	run := te.start(te.flow(`
name: sig
steps:
  selfish:
    kind: checkpoint
    run: kill -INT $$
`), nil)
	wantStatus(t, run, RunFailed)
	s := step(t, run, "selfish")
	if s.Status != StepFailed || s.Error == nil || !strings.Contains(*s.Error, "signal 2") {
		t.Fatalf("selfish: %s %v", s.Status, derefStr(s.Error))
	}
}

// An llm step whose call the interruption cuts short (the client reports
// a plain network error, not the context's) stays unrecorded too.
func TestLLMStepCancelledMidCall(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calling := make(chan struct{}, 4)
	models := &blockingModels{fakeModels: te.models, calling: calling}
	eng := New(Config{Store: te.store, Observer: te.events, Models: models})
	f := te.flow(`
name: talk
steps:
  ask:
    kind: llm
    model: fast
    retry: {attempts: 3}
    prompt: hello
`)
	go func() {
		<-calling
		cancel()
	}()
	run, err := eng.Start(ctx, StartOptions{Flow: f, Inputs: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunInterrupted)
	if s := step(t, run, "ask"); s.Status != StepPending {
		t.Fatalf("the cut-short llm step is %s (%v)", s.Status, derefStr(s.Error))
	}
	if n := len(te.events.of(EventStepRetrying)); n != 0 {
		t.Errorf("%d retries of a call the interruption cut short", n)
	}
	done, err := te.eng.Resume(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, done, RunCompleted)
	if step(t, done, "ask").Output != "answer to: hello" {
		t.Errorf("resumed output %#v", step(t, done, "ask").Output)
	}
}

// blockingModels' calls block until their context ends, then fail with an
// error that does not wrap the context's.
type blockingModels struct {
	*fakeModels
	calling chan struct{}
}

func (m *blockingModels) Caller(providers.Registry) providers.Caller {
	return blockingCaller{m.calling}
}

type blockingCaller struct{ calling chan struct{} }

func (c blockingCaller) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	c.calling <- struct{}{}
	<-ctx.Done()
	return nil, errors.New("read tcp 127.0.0.1:4242: connection reset by peer")
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
