package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// planRecord is what the plan column holds: what LoadMeta reads beside
// the meta and LoadSummary leaves out.
type planRecord struct {
	Plan   []runstore.PlanStep    `json:"plan"`
	Reused []runstore.ReusedGroup `json:"reused,omitempty"`
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode a record: %w", err)
	}
	return b, nil
}

// metaRecords are the meta and plan columns of meta, stamped now.
func metaRecords(meta *runstore.RunMeta) (mb, pb []byte, err error) {
	meta.UpdatedAt = time.Now().UTC()
	m := *meta
	m.Steps, m.Plan, m.Reused, m.Dir = nil, nil, nil, ""
	if mb, err = encode(&m); err != nil {
		return nil, nil, err
	}
	pb, err = encode(&planRecord{Plan: meta.Plan, Reused: meta.Reused})
	return mb, pb, err
}

func damaged(id string, part runstore.Part, step string, item int, err error) *runstore.DamagedError {
	where := fmt.Sprintf("the %s record of run %s", part, id)
	switch part {
	case runstore.PartStep:
		where = fmt.Sprintf("the record of step %s of run %s", step, id)
	case runstore.PartItem:
		where = fmt.Sprintf("the record of item %d of step %s of run %s", item, step, id)
	}
	return &runstore.DamagedError{RunID: id, Part: part, Step: step, Item: item, Where: where,
		Problem: "is damaged (" + err.Error() + ")"}
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// NewID makes a fresh run id not in use.
func (s *Store) NewID(ctx context.Context) (string, error) {
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("cannot make a run id: %w", err)
		}
		id := "kr-" + hex.EncodeToString(b[:])
		ok, err := s.Exists(ctx, id)
		if err != nil {
			return "", err
		}
		if !ok {
			return id, nil
		}
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create inserts the run, leased, and its journal counters in one
// statement.
func (s *Store) Create(ctx context.Context, meta *runstore.RunMeta, flowSource []byte, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	mb, pb, err := metaRecords(meta)
	if err != nil {
		return nil, err
	}
	l := &runstore.Lease{RunID: meta.ID, Holder: holder, Token: newToken(), TTL: ttl}
	err = s.do(ctx, "creating run "+meta.ID, func(ctx context.Context, retry bool) error {
		var exp *time.Time
		err := s.pool.QueryRow(ctx, `WITH r AS (
				INSERT INTO runs (id, flow, status, started_at, meta, plan, flow_source, lease_token, lease_host, lease_pid, lease_ttl_us, lease_expires)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, `+expiry(11)+`)
				RETURNING id, lease_expires),
			q AS (INSERT INTO run_seqs (run_id) SELECT id FROM r)
			SELECT lease_expires FROM r`,
			meta.ID, meta.Flow, string(meta.Status), meta.StartedAt, mb, pb, flowSource, l.Token, holder.Host, holder.PID, ttl.Microseconds()).Scan(&exp)
		if isCode(err, "23505") {
			if retry { // an earlier attempt's commit may have been this run
				var tok *string
				if err2 := s.pool.QueryRow(ctx, `SELECT lease_token, lease_expires FROM runs WHERE id = $1`, meta.ID).Scan(&tok, &exp); err2 == nil && tok != nil && *tok == l.Token {
					setExpires(l, exp)
					return nil
				}
			}
			return fmt.Errorf("cannot create run %s: it already exists", meta.ID)
		}
		if err == nil {
			setExpires(l, exp)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.startGroup(meta.ID, l.Token)
	return l, nil
}

// expiry is the SQL of a lease's end, ttl microseconds (parameter n)
// from the server's now; NULL, never, for a ttl of 0.
func expiry(n int) string {
	p := "$" + strconv.Itoa(n)
	return "CASE WHEN " + p + "::bigint > 0 THEN now() + " + p + "::bigint * interval '1 microsecond' END"
}

func setExpires(l *runstore.Lease, exp *time.Time) {
	l.Expires = time.Time{}
	if exp != nil {
		l.Expires = *exp
	}
}

// SaveMeta replaces the run's meta.
func (s *Store) SaveMeta(ctx context.Context, meta *runstore.RunMeta) error {
	mb, _, err := metaRecords(meta)
	if err != nil {
		return err
	}
	return s.record(ctx, "saving the meta of run "+meta.ID, meta.ID, metaWrite, meta.ID, mb, meta.Flow, string(meta.Status), meta.StartedAt)
}

// ReplaceFlow replaces the run's flow snapshot, plan and meta in one
// statement.
func (s *Store) ReplaceFlow(ctx context.Context, meta *runstore.RunMeta, flowSource []byte) error {
	rev := meta.FlowRev
	meta.FlowRev++
	mb, pb, err := metaRecords(meta)
	if err == nil {
		err = s.do(ctx, "replacing the flow of run "+meta.ID, func(ctx context.Context, _ bool) error {
			tag, err := s.pool.Exec(ctx, `UPDATE runs SET meta = $2, plan = $3, flow_source = $4, flow = $5, status = $6, started_at = $7 WHERE id = $1`,
				meta.ID, mb, pb, flowSource, meta.Flow, string(meta.Status), meta.StartedAt)
			if err == nil && tag.RowsAffected() == 0 {
				return notFound(meta.ID)
			}
			return err
		})
	}
	if err != nil {
		meta.FlowRev = rev
	}
	return err
}

// LoadMeta reads the run's meta with its plan.
func (s *Store) LoadMeta(ctx context.Context, id string) (*runstore.RunMeta, error) {
	var mb, pb []byte
	if err := s.readRow(ctx, "reading run "+id, id, `SELECT meta, plan FROM runs WHERE id = $1`, []any{id}, &mb, &pb); err != nil {
		return nil, err
	}
	m, de := decodeMeta(id, mb)
	if de != nil {
		return nil, de
	}
	var p planRecord
	if err := json.Unmarshal(pb, &p); err != nil {
		return nil, damaged(id, runstore.PartPlan, "", 0, err)
	}
	m.Plan, m.Reused = p.Plan, p.Reused
	return m, nil
}

// LoadSummary reads the run's meta without its plan.
func (s *Store) LoadSummary(ctx context.Context, id string) (*runstore.RunMeta, error) {
	var mb []byte
	if err := s.readRow(ctx, "reading run "+id, id, `SELECT meta FROM runs WHERE id = $1`, []any{id}, &mb); err != nil {
		return nil, err
	}
	m, de := decodeMeta(id, mb)
	if de != nil {
		return nil, de
	}
	return m, nil
}

// FlowSource returns the run's flow snapshot.
func (s *Store) FlowSource(ctx context.Context, id string) ([]byte, error) {
	var src []byte
	err := s.readRow(ctx, "reading the flow of run "+id, id, `SELECT flow_source FROM runs WHERE id = $1`, []any{id}, &src)
	return src, err
}

// readRow reads one row into dest; no row is run id not found.
func (s *Store) readRow(ctx context.Context, op, id, sql string, args []any, dest ...any) error {
	return s.do(ctx, op, func(ctx context.Context, _ bool) error {
		err := s.pool.QueryRow(ctx, sql, args...).Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		return err
	})
}

// Exists says whether the run is kept.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.do(ctx, "looking for run "+id, func(ctx context.Context, _ bool) (err error) {
		ok, err = s.existsOnce(ctx, id)
		return err
	})
	return ok, err
}

func (s *Store) existsOnce(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

// mustExist is nil when run id exists, an error wrapping ErrNotFound when
// not.
func (s *Store) mustExist(ctx context.Context, id string) error {
	ok, err := s.Exists(ctx, id)
	if err == nil && !ok {
		err = notFound(id)
	}
	return err
}

// Query reads a page newest first with a keyset cursor: (started_at, id)
// below the last run of the page before, on the index of that order.
func (s *Store) Query(ctx context.Context, q runstore.Query) (runstore.Page, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Flow != "" {
		conds = append(conds, "flow = "+arg(q.Flow))
	}
	if q.Status != "" {
		conds = append(conds, "status = "+arg(string(q.Status)))
	}
	if q.IDPrefix != "" {
		conds = append(conds, "id LIKE "+arg(likePrefix(q.IDPrefix)))
	}
	var from *time.Time
	var fromID string
	if q.Cursor != "" {
		at, id, err := parseCursor(q.Cursor)
		if err != nil {
			return runstore.Page{}, err
		}
		from, fromID = &at, id
	}
	var page runstore.Page
	var bad runstore.DamagedRuns
	err := s.do(ctx, "listing runs", func(ctx context.Context, _ bool) error {
		page, bad = runstore.Page{}, nil
		after, afterID := from, fromID
		for {
			// A damaged run is reported, not counted: while damaged ones
			// leave the page short, read on after the last row read.
			sqlArgs := append([]any(nil), args...)
			where := append([]string(nil), conds...)
			if after != nil {
				sqlArgs = append(sqlArgs, *after, afterID)
				where = append(where, fmt.Sprintf("(started_at, id) < ($%d, $%d)", len(sqlArgs)-1, len(sqlArgs)))
			}
			sql := `SELECT id, started_at, meta FROM runs`
			if len(where) > 0 {
				sql += " WHERE " + strings.Join(where, " AND ")
			}
			sql += " ORDER BY started_at DESC, id DESC"
			want := 0
			if q.Limit > 0 {
				// One more than the page tells whether another follows.
				want = q.Limit - len(page.Runs) + 1
				sqlArgs = append(sqlArgs, want)
				sql += " LIMIT $" + strconv.Itoa(len(sqlArgs))
			}
			more, err := s.queryRows(ctx, sql, sqlArgs, want, q.Limit, &page, &bad, &after, &afterID)
			if err != nil || !more {
				return err
			}
		}
	})
	if err != nil {
		return runstore.Page{}, err
	}
	if len(bad) > 0 {
		return page, bad
	}
	return page, nil
}

// queryRows adds the rows of one query (of at most want rows, 0: all) to
// page until it holds limit runs, moving (after, afterID) to the last row
// read. more: all want rows were read and the page is still short, so
// rows may follow.
func (s *Store) queryRows(ctx context.Context, sql string, args []any, want, limit int, page *runstore.Page, bad *runstore.DamagedRuns, after **time.Time, afterID *string) (more bool, err error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var id string
	var at time.Time
	var mb []byte
	fetched := 0
	for rows.Next() {
		if limit > 0 && len(page.Runs) == limit {
			page.Next = cursor(**after, *afterID)
			return false, nil
		}
		if err := rows.Scan(&id, &at, &mb); err != nil {
			return false, err
		}
		fetched++
		t := at
		*after, *afterID = &t, id
		m, de := decodeMeta(id, mb)
		if de != nil {
			*bad = append(*bad, de)
			continue
		}
		page.Runs = append(page.Runs, m)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return limit > 0 && len(page.Runs) < limit && fetched == want, nil
}

// likePrefix is a LIKE pattern matching what starts with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

func cursor(at time.Time, id string) string {
	return at.UTC().Format(time.RFC3339Nano) + "/" + id
}

func parseCursor(c string) (time.Time, string, error) {
	ts, id, ok := strings.Cut(c, "/")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("the cursor %q is not one a query returned", c)
	}
	return t, id, nil
}

// Delete removes the run of live lease l in one transaction: its row,
// with which its records go (ON DELETE CASCADE), then its journal and
// log, which have no foreign key (a key check per appended row costs a
// fifth of an append). Deleting the run's counters waits for appends in
// flight, and the journal's rows are deleted after them; an append after
// finds no counter and fails as of a run not found.
func (s *Store) Delete(ctx context.Context, l *runstore.Lease) error {
	s.dropGroup(l.RunID)
	return s.do(ctx, "deleting run "+l.RunID, func(ctx context.Context, retry bool) error {
		deleted := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM runs WHERE id = $1 AND lease_token = $2 AND `+live, l.RunID, l.Token)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			deleted = true
			for _, table := range []string{"steps", "items", "turns", "artifacts", "events", "logs"} {
				if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE run_id = $1`, l.RunID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || deleted {
			return err
		}
		ok, err := s.Exists(ctx, l.RunID)
		switch {
		case err != nil:
			return err
		case ok:
			return leaseLost(l.RunID)
		case retry:
			return nil // an earlier attempt deleted it, its answer lost
		}
		return notFound(l.RunID)
	})
}

// errOtherMeta is a run's meta that decodes but is not of that run (an
// empty object, null, another run's).
var errOtherMeta = errors.New("it is not this run's: it names another id, or none")

// decodeMeta reads run id's meta, a *runstore.DamagedError when it is not
// the meta of that run.
func decodeMeta(id string, mb []byte) (*runstore.RunMeta, *runstore.DamagedError) {
	var m runstore.RunMeta
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, damaged(id, runstore.PartMeta, "", 0, err)
	}
	if m.ID != id {
		return nil, damaged(id, runstore.PartMeta, "", 0, errOtherMeta)
	}
	return &m, nil
}
