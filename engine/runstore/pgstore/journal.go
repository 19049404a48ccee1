package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// A journal (events or logs) is numbered by its run's counter in
// run_seqs: an append adds its count to the counter and inserts its
// records below the new value, in one statement. The counter's row lock
// orders concurrent appends, so numbers neither repeat nor skip, and an
// append's records are consecutive.
//
// Every append carries a batch token, kept on its rows. A retry after a
// failure that may have committed all the same (the server's answer to
// the commit lost) first looks for rows of its token: found, the append
// was done, and is not done twice.
type journal struct {
	table, counter string
	append         string // appendSQL's statement, made once
}

var (
	eventsJournal = newJournal("events", "events")
	logsJournal   = newJournal("logs", "logs")
)

func newJournal(table, counter string) journal {
	j := journal{table: table, counter: counter}
	j.append = j.appendSQL()
	return j
}

// appendSQL appends $2 to run $1's journal with batch token $3; with a
// lease token $4 (not null), only while the run's lease is still that.
func (j journal) appendSQL() string {
	return `WITH ` + j.countSQL(2, 4) + ` ` + j.insertSQL(2, 3)
}

// countSQL is the CTE s adding the count of records $recs to run $1's
// counter, with a lease token $token (not null) only while the run's
// lease is still that; its one row, last, is the counter's new value,
// and there is none when nothing was counted.
func (j journal) countSQL(recs, token int) string {
	return fmt.Sprintf(`s AS (UPDATE run_seqs SET %[1]s = %[1]s + cardinality($%[2]d::bytea[])
			WHERE run_id = $1 AND ($%[3]d::text IS NULL OR EXISTS (SELECT 1 FROM runs WHERE id = $1 AND lease_token = $%[3]d))
			RETURNING %[1]s AS last)`, j.counter, recs, token)
}

// insertSQL inserts the records $recs with batch token $batch, numbered
// below the counter's new value in s.
func (j journal) insertSQL(recs, batch int) string {
	return fmt.Sprintf(`INSERT INTO %s (run_id, seq, batch, rec)
		SELECT $1, s.last - cardinality($%[2]d::bytea[]) + r.n, $%[3]d, r.rec FROM s, unnest($%[2]d::bytea[]) WITH ORDINALITY AS r(rec, n)`, j.table, recs, batch)
}

func (s *Store) appendRecords(ctx context.Context, op, id string, j journal, recs [][]byte) error {
	if len(recs) == 0 {
		return s.mustExist(ctx, id)
	}
	batch := make([]byte, 16)
	_, _ = rand.Read(batch)
	return s.do(ctx, op, func(ctx context.Context, retry bool) error {
		return s.appendAttempt(ctx, id, j, recs, batch, retry, nil)
	})
}

// appendAttempt is one attempt at an append; retry: an earlier attempt
// of the batch failed, maybe after its commit.
func (s *Store) appendAttempt(ctx context.Context, id string, j journal, recs [][]byte, batch []byte, retry bool, lease *string) error {
	if retry {
		var done bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+j.table+` WHERE run_id = $1 AND batch = $2)`, id, batch).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	tag, err := s.pool.Exec(ctx, j.append, id, pgtype.FlatArray[[]byte](recs), batch, lease)
	if err == nil && tag.RowsAffected() == 0 {
		return s.missing(ctx, id, lease)
	}
	return err
}

// readRecords reads the records numbered after `after`, at most limit (0:
// all), in one statement that also tells a run without any from a run
// that does not exist.
func (s *Store) readRecords(ctx context.Context, op, id string, j journal, after int64, limit int, each func(seq int64, rec []byte)) error {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	return s.do(ctx, op, func(ctx context.Context, _ bool) error {
		rows, err := s.pool.Query(ctx, `SELECT j.seq, j.rec FROM runs r LEFT JOIN LATERAL (
				SELECT seq, rec FROM `+j.table+` WHERE run_id = r.id AND seq > $2 ORDER BY seq LIMIT $3) j ON true
			WHERE r.id = $1`, id, after, lim)
		if err != nil {
			return err
		}
		defer rows.Close()
		type row struct {
			seq int64
			rec []byte
		}
		var got []row
		found := false
		for rows.Next() {
			found = true
			var seq *int64
			var rec []byte
			if err := rows.Scan(&seq, &rec); err != nil {
				return err
			}
			if seq != nil {
				got = append(got, row{*seq, rec})
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !found {
			return notFound(id)
		}
		for _, r := range got {
			each(r.seq, r.rec)
		}
		return nil
	})
}

// AppendEvents numbers and keeps events.
func (s *Store) AppendEvents(ctx context.Context, id string, evs ...runstore.Event) error {
	recs := make([][]byte, len(evs))
	for i, ev := range evs {
		ev.Seq = 0 // the row's number is the event's
		b, err := encode(&ev)
		if err != nil {
			return err
		}
		recs[i] = b
	}
	if p := s.grouped(id); p != nil && len(recs) > 0 {
		s.hold(id, p, recs)
		return nil
	}
	return s.appendRecords(ctx, "recording events of run "+id, id, eventsJournal, recs)
}

// Events returns the events after seq `after`; one that does not decode
// is skipped with a warning.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]runstore.Event, []string, error) {
	if p := s.grouped(id); p != nil {
		if err := s.flush(ctx, id, p); err != nil {
			return nil, nil, err
		}
	}
	var out []runstore.Event
	var warns []string
	err := s.readRecords(ctx, "reading the events of run "+id, id, eventsJournal, after, limit, func(seq int64, rec []byte) {
		var ev runstore.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			warns = append(warns, fmt.Sprintf("event %d of run %s is damaged (%v); skipped", seq, id, err))
			return
		}
		ev.Seq = seq
		out = append(out, ev)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, warns, nil
}

// AppendLog keeps log lines, numbered, one line each.
func (s *Store) AppendLog(ctx context.Context, id string, lines ...runstore.LogLine) error {
	recs := make([][]byte, len(lines))
	for i, l := range lines {
		l.Time = l.Time.UTC()
		l.Text = strings.ReplaceAll(l.Text, "\n", " ")
		b, err := encode(&l)
		if err != nil {
			return err
		}
		recs[i] = b
	}
	return s.appendRecords(ctx, "recording the log of run "+id, id, logsJournal, recs)
}

// Logs returns the log lines after seq `after`; a line that does not
// decode is left out, and the first such is reported beside the others.
func (s *Store) Logs(ctx context.Context, id string, after int64) ([]runstore.LogLine, error) {
	var out []runstore.LogLine
	var bad []error
	err := s.readRecords(ctx, "reading the log of run "+id, id, logsJournal, after, 0, func(seq int64, rec []byte) {
		var l runstore.LogLine
		if err := json.Unmarshal(rec, &l); err != nil {
			bad = append(bad, &runstore.DamagedError{RunID: id, Part: runstore.PartLog, Line: seq,
				Where: fmt.Sprintf("line %d of the log of run %s", seq, id), Problem: "is damaged (" + err.Error() + ")"})
			return
		}
		l.Seq = seq
		out = append(out, l)
	})
	if err != nil {
		return nil, err
	}
	return out, firstOf(nil, bad)
}
