package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// SaveStep records a step's result: one upsert, which a retry repeats
// harmlessly.
func (s *Store) SaveStep(ctx context.Context, id string, sr *runstore.StepResult) error {
	args, err := stepArgs(id, sr)
	if err != nil {
		return err
	}
	return s.record(ctx, "saving step "+sr.ID+" of run "+id, id, stepWrite, args...)
}

// stepArgs are stepWrite's parameters for sr.
func stepArgs(id string, sr *runstore.StepResult) ([]any, error) {
	rec := sr
	if sr.Items != nil || sr.Dir != "" { // a copy only when there is something to leave out
		c := *sr
		c.Items, c.Dir = nil, ""
		rec = &c
	}
	b, err := encode(rec)
	return []any{id, sr.ID, b}, err
}

// The writes of a run's records: alone, or with its pending events.
var (
	stepWrite = insertRecord(`INSERT INTO steps (run_id, step, rec) SELECT $1::text, $2::text, $3::bytea`, 3,
		`ON CONFLICT (run_id, step) DO UPDATE SET rec = excluded.rec`)
	itemWrite = insertRecord(`INSERT INTO items (run_id, step, idx, rec) SELECT $1::text, $2::text, $3::integer, $4::bytea`, 4,
		`ON CONFLICT (run_id, step, idx) DO UPDATE SET rec = excluded.rec`)
	turnWrite = insertRecord(`INSERT INTO turns (run_id, step, item, conversation, turn, call, rec)
		SELECT $1::text, $2::text, $3::integer, $4::integer, $5::integer, $6::integer, $7::bytea`, 7,
		`ON CONFLICT (run_id, step, item, conversation, turn, call) DO UPDATE SET rec = excluded.rec`)
	artifactWrite = insertRecord(`INSERT INTO artifacts (run_id, step, name, data) SELECT $1::text, $2::text, $3::text, $4::bytea`, 4,
		`ON CONFLICT (run_id, step, name) DO UPDATE SET data = excluded.data`)
	metaWrite = recordSQL{
		alone: `UPDATE runs SET meta = $2, flow = $3, status = $4, started_at = $5 WHERE id = $1 AND ($6::text IS NULL OR lease_token = $6)`,
		// s says the events were numbered, lease_token that the lease is
		// still the token's as the row is updated.
		withEvents: eventsBefore(6) + `UPDATE runs SET meta = $2, flow = $3, status = $4, started_at = $5 FROM s WHERE id = $1 AND lease_token = $6`,
	}
)

// ofRun makes a record's INSERT ... SELECT insert nothing when its run
// ($1) is not there or, with a lease token in parameter n, when the
// run's lease is no longer that one (see missing).
func ofRun(n int) string {
	return fmt.Sprintf(` WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND ($%[1]d::text IS NULL OR lease_token = $%[1]d))`, n)
}

// LoadStep reads a step's record; nil, nil when it has none.
func (s *Store) LoadStep(ctx context.Context, id, step string) (*runstore.StepResult, error) {
	var b []byte
	err := s.do(ctx, "reading step "+step+" of run "+id, func(ctx context.Context, _ bool) error {
		err := s.pool.QueryRow(ctx, `SELECT rec FROM steps WHERE run_id = $1 AND step = $2`, id, step).Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) {
			b, err = nil, nil
		}
		return err
	})
	if err != nil || b == nil {
		return nil, err
	}
	var r runstore.StepResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, damaged(id, runstore.PartStep, step, 0, err)
	}
	return &r, nil
}

// LoadSteps reads every step record of the run; damaged ones are
// reported, the others returned.
func (s *Store) LoadSteps(ctx context.Context, id string) (map[string]*runstore.StepResult, error) {
	out := map[string]*runstore.StepResult{}
	var bad []error
	err := s.rows(ctx, "reading the steps of run "+id, id, `SELECT step, rec FROM steps WHERE run_id = $1`, []any{id}, func(rows pgx.Rows) error {
		var step string
		var b []byte
		if err := rows.Scan(&step, &b); err != nil {
			return err
		}
		var r runstore.StepResult
		if err := json.Unmarshal(b, &r); err != nil {
			bad = append(bad, damaged(id, runstore.PartStep, step, 0, err))
			return nil
		}
		out[step] = &r
		return nil
	}, func() { clear(out); bad = nil })
	return out, firstOf(err, bad)
}

// rows runs a query and hands each row to each; a query with no row
// checks that run id exists. reset undoes what each kept, before a retry.
func (s *Store) rows(ctx context.Context, op, id, sql string, args []any, each func(pgx.Rows) error, reset func()) error {
	return s.do(ctx, op, func(ctx context.Context, _ bool) error {
		reset()
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			if err := each(rows); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return s.mustExist(ctx, id)
		}
		return nil
	})
}

// SaveItem records an item of a foreach step.
func (s *Store) SaveItem(ctx context.Context, id, step string, ir *runstore.ItemResult) error {
	b, err := encode(ir)
	if err != nil {
		return err
	}
	return s.record(ctx, fmt.Sprintf("saving item %d of step %s of run %s", ir.Index, step, id), id, itemWrite, id, step, ir.Index, b)
}

// LoadItems reads every item record of a foreach step.
func (s *Store) LoadItems(ctx context.Context, id, step string) (map[int]*runstore.ItemResult, error) {
	out := map[int]*runstore.ItemResult{}
	var bad []error
	err := s.rows(ctx, "reading the items of step "+step+" of run "+id, id, `SELECT idx, rec FROM items WHERE run_id = $1 AND step = $2`, []any{id, step}, func(rows pgx.Rows) error {
		var idx int
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return err
		}
		var r runstore.ItemResult
		if err := json.Unmarshal(b, &r); err != nil {
			bad = append(bad, damaged(id, runstore.PartItem, step, idx, err))
			return nil
		}
		r.Index = idx
		out[idx] = &r
		return nil
	}, func() { clear(out); bad = nil })
	return out, firstOf(err, bad)
}

func itemOf(item *int) int {
	if item == nil {
		return -1
	}
	return *item
}

// SaveTurn keeps one piece of an llm step's conversation.
func (s *Store) SaveTurn(ctx context.Context, id, step string, tr *runstore.TurnRecord) error {
	args, err := turnArgs(id, step, tr)
	if err != nil {
		return err
	}
	return s.record(ctx, fmt.Sprintf("saving turn %d.%d.%d of step %s of run %s", tr.Conversation, tr.Turn, tr.Call, step, id), id, turnWrite, args...)
}

func turnArgs(id, step string, tr *runstore.TurnRecord) ([]any, error) {
	b, err := encode(tr)
	return []any{id, step, itemOf(tr.Item), tr.Conversation, tr.Turn, tr.Call, b}, err
}

// LoadTurns reads a step's (or an item's) conversation records in order.
func (s *Store) LoadTurns(ctx context.Context, id, step string, item *int) ([]*runstore.TurnRecord, error) {
	var out []*runstore.TurnRecord
	err := s.rows(ctx, "reading the turns of step "+step+" of run "+id, id,
		`SELECT rec FROM turns WHERE run_id = $1 AND step = $2 AND item = $3 ORDER BY conversation, turn, call`,
		[]any{id, step, itemOf(item)}, func(rows pgx.Rows) error {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			var tr runstore.TurnRecord
			if err := json.Unmarshal(b, &tr); err != nil {
				return damaged(id, runstore.PartStep, step, 0, err)
			}
			out = append(out, &tr)
			return nil
		}, func() { out = nil })
	slices.SortStableFunc(out, runstore.CompareTurnRecords)
	return out, err
}

// ForgetStep removes a step's record.
func (s *Store) ForgetStep(ctx context.Context, id, step string) error {
	return s.do(ctx, "forgetting step "+step+" of run "+id, func(ctx context.Context, _ bool) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM steps WHERE run_id = $1 AND step = $2`, id, step)
		if err == nil && tag.RowsAffected() == 0 {
			return s.mustExist(ctx, id)
		}
		return err
	})
}

// WriteArtifact keeps a blob beside a step's record, in the database: a
// team sharing the store shares the artifacts too.
func (s *Store) WriteArtifact(ctx context.Context, id, step, name string, data []byte) error {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	token := s.leaseToken(id)
	return s.exec1(ctx, "saving artifact "+name+" of step "+step+" of run "+id, id, token, artifactWrite.alone, id, step, name, data, token)
}

// ReadArtifact reads a blob back.
func (s *Store) ReadArtifact(ctx context.Context, id, step, name string) ([]byte, error) {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return nil, err
	}
	var b []byte
	err := s.do(ctx, "reading artifact "+name+" of step "+step+" of run "+id, func(ctx context.Context, _ bool) error {
		err := s.pool.QueryRow(ctx, `SELECT data FROM artifacts WHERE run_id = $1 AND step = $2 AND name = $3`, id, step, name).Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := s.mustExist(ctx, id); err != nil {
				return err
			}
			return fmt.Errorf("step %s of run %s has no %s: %w", step, id, name, runstore.ErrNoArtifact)
		}
		return err
	})
	return b, err
}

// Artifacts names a step's artifacts, sorted.
func (s *Store) Artifacts(ctx context.Context, id, step string) ([]string, error) {
	var out []string
	err := s.rows(ctx, "listing the artifacts of step "+step+" of run "+id, id,
		`SELECT name FROM artifacts WHERE run_id = $1 AND step = $2 ORDER BY name COLLATE "C"`, []any{id, step}, func(rows pgx.Rows) error {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			out = append(out, n)
			return nil
		}, func() { out = nil })
	return out, err
}

// DeleteArtifact removes a blob (nil when there was none).
func (s *Store) DeleteArtifact(ctx context.Context, id, step, name string) error {
	if err := runstore.CheckArtifactName(step, name); err != nil {
		return err
	}
	return s.do(ctx, "deleting artifact "+name+" of step "+step+" of run "+id, func(ctx context.Context, _ bool) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM artifacts WHERE run_id = $1 AND step = $2 AND name = $3`, id, step, name)
		if err == nil && tag.RowsAffected() == 0 {
			return s.mustExist(ctx, id)
		}
		return err
	})
}

// firstOf is err, or else the first of the damaged records a read
// reported beside what it returned.
func firstOf(err error, bad []error) error {
	if err == nil && len(bad) > 0 {
		return bad[0]
	}
	return err
}
