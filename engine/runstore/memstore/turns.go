package memstore

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// turnKey names one turn record of a run.
type turnKey struct {
	step                     string
	item                     int // -1: the step's own
	conversation, turn, call int
}

func itemOf(item *int) int {
	if item == nil {
		return -1
	}
	return *item
}

// SaveTurn keeps one piece of an llm step's conversation.
func (s *Store) SaveTurn(ctx context.Context, id, step string, tr *runstore.TurnRecord) error {
	b, err := encode(tr)
	if err != nil {
		return err
	}
	return s.update(id, func(r *run) {
		if r.turns == nil {
			r.turns = map[turnKey][]byte{}
		}
		r.turns[turnKey{step, itemOf(tr.Item), tr.Conversation, tr.Turn, tr.Call}] = b
	})
}

// LoadTurns reads a step's (or an item's) conversation records in order.
func (s *Store) LoadTurns(ctx context.Context, id, step string, item *int) ([]*runstore.TurnRecord, error) {
	s.mu.Lock()
	r, err := s.get(id)
	var recs [][]byte
	if err == nil {
		for k, b := range r.turns {
			if k.step == step && k.item == itemOf(item) {
				recs = append(recs, b)
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make([]*runstore.TurnRecord, 0, len(recs))
	for _, b := range recs {
		var tr runstore.TurnRecord
		if err := json.Unmarshal(b, &tr); err != nil {
			return nil, err
		}
		out = append(out, &tr)
	}
	slices.SortFunc(out, runstore.CompareTurnRecords)
	return out, nil
}
