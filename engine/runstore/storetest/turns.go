package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// testTurns: turn records of a step and of its items round-trip apart, in
// order of conversation, turn and call, a second save of one piece
// replaces the first, concurrent saves of one turn's tool calls all land,
// and a missing run is refused.
func testTurns(t *testing.T, s runstore.Store) {
	ctx := context.Background()
	m := newMeta(t, s, "agent", t0)
	create(t, s, m)
	if got, err := s.LoadTurns(ctx, m.ID, "a", nil); err != nil || len(got) != 0 {
		t.Fatalf("LoadTurns of none = %v, %v", got, err)
	}
	save := func(item *int, conv, turn, call int, out string) {
		t.Helper()
		r := &runstore.TurnRecord{Item: item, Conversation: conv, Key: "k", Turn: turn, Call: call}
		switch {
		case turn == 0:
			r.Ended = &out
		case call == 0:
			r.Model = &runstore.Turn{Turn: turn, Text: out}
		default:
			r.Tool = &runstore.ToolCall{ID: fmt.Sprint("c", call), Name: "t", Output: out}
		}
		if err := s.SaveTurn(ctx, m.ID, "a", r); err != nil {
			t.Fatalf("SaveTurn: %v", err)
		}
	}
	// Out of order: conversation 2 before 1, turn 10 after turn 2 (not
	// as text), the end of conversation 1 (turn 0) last.
	save(nil, 2, 1, 0, "second")
	save(nil, 1, 10, 0, "ten")
	save(nil, 1, 2, 1, "wrong")
	save(nil, 1, 2, 0, "two")
	save(nil, 1, 2, 1, "2.1")
	var wg sync.WaitGroup
	for c := 2; c <= 9; c++ {
		wg.Go(func() { save(nil, 1, 2, c, fmt.Sprint("2.", c)) })
	}
	wg.Wait()
	save(nil, 1, 0, 0, "failed")
	one := 1
	save(&one, 1, 1, 0, "item")
	got, err := s.LoadTurns(ctx, m.ID, "a", nil)
	if err != nil || len(got) != 13 {
		t.Fatalf("LoadTurns = %d records, %v; want 13", len(got), err)
	}
	if got[0].Ended == nil || *got[0].Ended != "failed" || got[1].Turn != 2 || got[1].Model == nil || got[1].Model.Text != "two" ||
		got[2].Tool.Output != "2.1" || got[11].Turn != 10 || got[11].Key != "k" || got[12].Conversation != 2 || got[12].Model.Text != "second" {
		t.Fatalf("LoadTurns order or content: %+v, %+v, %+v, %+v, %+v", got[0], got[1], got[2], got[11], got[12])
	}
	for i, r := range got[2:11] {
		if r.Call != i+1 || r.Item != nil {
			t.Fatalf("record %d is call %d of item %v, want call %d of the step", i+2, r.Call, r.Item, i+1)
		}
	}
	items, err := s.LoadTurns(ctx, m.ID, "a", &one)
	if err != nil || len(items) != 1 || items[0].Model.Text != "item" || items[0].Item == nil || *items[0].Item != 1 {
		t.Fatalf("LoadTurns of item 1 = %v, %v", items, err)
	}
	zero := 0
	if none, err := s.LoadTurns(ctx, m.ID, "a", &zero); err != nil || len(none) != 0 {
		t.Fatalf("LoadTurns of item 0 = %v, %v", none, err)
	}
	if err := s.SaveTurn(ctx, "kr-missing", "a", &runstore.TurnRecord{Conversation: 1, Turn: 1}); !errors.Is(err, runstore.ErrNotFound) {
		t.Fatalf("SaveTurn to a missing run = %v, want ErrNotFound", err)
	}
}
