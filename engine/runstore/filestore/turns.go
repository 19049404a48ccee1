package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// SaveTurn writes steps/<step>/turns/<conversation>.<turn>.<call>.json
// (an item's: <item>.<conversation>.<turn>.<call>.json) atomically.
func (s *Store) SaveTurn(ctx context.Context, id, step string, r *runstore.TurnRecord) error {
	dir, err := s.recordDir(ctx, id, step, "turns")
	if err != nil {
		return err
	}
	name := strconv.Itoa(r.Conversation) + "." + strconv.Itoa(r.Turn) + "." + strconv.Itoa(r.Call) + ".json"
	if r.Item != nil {
		name = strconv.Itoa(*r.Item) + "." + name
	}
	return s.writeJSONShared(filepath.Join(dir, name), r, true)
}

// LoadTurns reads the turn records of a step (item nil) or of one item.
func (s *Store) LoadTurns(ctx context.Context, id, step string, item *int) ([]*runstore.TurnRecord, error) {
	dir := filepath.Join(s.StepDir(id, step), "turns")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the turns of step %s: %w", step, err)
	}
	parts := 3
	if item != nil {
		parts = 4
	}
	var out []*runstore.TurnRecord
	var errs []error
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		f := strings.Split(base, ".")
		if !ok || len(f) != parts || item != nil && f[0] != strconv.Itoa(*item) {
			continue // temp files, strangers, other items
		}
		var r runstore.TurnRecord
		p := filepath.Join(dir, e.Name())
		problem, err := readJSON(p, &r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot read %s: %w", p, err))
			continue
		case problem != "":
			// A torn record is a turn that did not finish: it runs again.
			continue
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, runstore.CompareTurnRecords)
	return out, errors.Join(errs...)
}
