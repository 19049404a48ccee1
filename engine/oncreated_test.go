package engine

import (
	"context"
	"testing"
)

// OnCreated names the new run once, before its first step runs (the step
// finds the run recorded already).
func TestOnCreated(t *testing.T) {
	t.Parallel()
	te := newEnv(t)
	f := te.flow(`name: parent
steps:
  one: {kind: checkpoint, run: echo one}
  two: {kind: checkpoint, needs: [one], run: echo two}
`)
	type heard struct {
		id      string
		started bool // a step was recorded before it
	}
	tests := []struct {
		name string
		run  func(hook func(string)) (*Run, error)
	}{
		{"start", func(hook func(string)) (*Run, error) {
			return te.eng.Start(context.Background(), StartOptions{Flow: f, OnCreated: hook})
		}},
		{"replay", func(hook func(string)) (*Run, error) {
			src := te.start(f, nil)
			return te.eng.Replay(context.Background(), ReplayOptions{Source: src.ID, From: "one", OnCreated: hook})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []heard
			run, err := tt.run(func(id string) {
				if _, err := te.store.LoadMeta(context.Background(), id); err != nil {
					t.Errorf("OnCreated(%s): the run is not recorded yet: %v", id, err)
				}
				steps, _ := te.store.LoadSteps(context.Background(), id)
				got = append(got, heard{id: id, started: len(steps) > 0})
			})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, run, RunCompleted)
			if len(got) != 1 || got[0].id != run.ID {
				t.Fatalf("OnCreated heard %+v, want once %s", got, run.ID)
			}
			if got[0].started {
				t.Errorf("OnCreated came after a step was recorded")
			}
		})
	}
}
