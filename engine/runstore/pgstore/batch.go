package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

var _ runstore.RecordWriter = (*Store)(nil)

// SaveRecords writes records of run id as one batch in one transaction
// (three round trips whatever their number): all of them or none. Each is the upsert
// its Save method makes, fenced by this Store's lease of the run.
func (s *Store) SaveRecords(ctx context.Context, id string, recs []runstore.Record) error {
	if len(recs) == 0 {
		return nil
	}
	token := s.leaseToken(id)
	b := &pgx.Batch{}
	for _, r := range recs {
		var sql string
		var args []any
		var err error
		switch {
		case r.Result != nil:
			sql = stepWrite.alone
			args, err = stepArgs(id, r.Result)
		case r.Item != nil:
			sql = itemWrite.alone
			var rec []byte
			rec, err = encode(r.Item)
			args = []any{id, r.Step, r.Item.Index, rec}
		case r.Turn != nil:
			sql = turnWrite.alone
			args, err = turnArgs(id, r.Step, r.Turn)
		default:
			sql = artifactWrite.alone
			err = runstore.CheckArtifactName(r.Step, r.Artifact)
			data := r.Data
			if data == nil {
				data = []byte{}
			}
			args = []any{id, r.Step, r.Artifact, data}
		}
		if err != nil {
			return err
		}
		b.Queue(sql, append(args, token)...)
	}
	return s.do(ctx, fmt.Sprintf("saving %d records of run %s", len(recs), id), func(ctx context.Context, _ bool) error {
		missing := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			for range recs {
				tag, err := br.Exec()
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					missing = true
					return errNoRun // rolls back what the batch wrote
				}
			}
			return br.Close()
		})
		if missing {
			return s.missing(ctx, id, token)
		}
		return err
	})
}

// errNoRun ends SaveRecords' transaction when a record found no run to
// write to (or not under this Store's lease); missing says which.
var errNoRun = errors.New("a record found no run to write to")
