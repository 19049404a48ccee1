package pgstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaError says the database's kitaru schema is of a version this
// kitaru does not know: a newer kitaru migrated it.
type SchemaError struct {
	Schema string // the PostgreSQL schema
	Found  int    // the version in the database
	Known  int    // the newest version this kitaru knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("schema %s is at version %d, newer than %d, the newest this kitaru knows", e.Schema, e.Found, e.Known)
}

// migrations are the schema's versions: migrations[i] makes version i+1
// of the one before. A migration is only ever appended, never edited.
//
// Ids sort as bytes (COLLATE "C"), as Go compares them, so that pages
// and cursors agree with runstore.Newer and a prefix search uses the key.
// Records are the JSON of runstore's types, kept as bytea: exact bytes
// back (jsonb would reorder keys and refuse \u0000), and no query looks
// inside them; the columns a query filters on are their own.
var migrations = []string{
	`CREATE TABLE runs (
		id text COLLATE "C" PRIMARY KEY,
		flow text NOT NULL,
		status text NOT NULL,
		started_at timestamptz NOT NULL,
		meta bytea NOT NULL,
		plan bytea NOT NULL,
		flow_source bytea NOT NULL,
		lease_token text,
		lease_host text NOT NULL DEFAULT '',
		lease_pid integer NOT NULL DEFAULT 0,
		lease_ttl_us bigint NOT NULL DEFAULT 0,
		lease_expires timestamptz,
		cancel bigint NOT NULL DEFAULT 0,
		cancel_seen bigint NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_newest ON runs (started_at DESC, id DESC);
	CREATE INDEX runs_flow_newest ON runs (flow, started_at DESC, id DESC);
	CREATE INDEX runs_status_newest ON runs (status, started_at DESC, id DESC);
	CREATE TABLE run_seqs (
		run_id text COLLATE "C" PRIMARY KEY REFERENCES runs ON DELETE CASCADE,
		events bigint NOT NULL DEFAULT 0,
		logs bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE steps (
		run_id text COLLATE "C" NOT NULL REFERENCES runs ON DELETE CASCADE,
		step text NOT NULL,
		rec bytea NOT NULL,
		PRIMARY KEY (run_id, step)
	);
	CREATE TABLE items (
		run_id text COLLATE "C" NOT NULL REFERENCES runs ON DELETE CASCADE,
		step text NOT NULL,
		idx integer NOT NULL,
		rec bytea NOT NULL,
		PRIMARY KEY (run_id, step, idx)
	);
	CREATE TABLE turns (
		run_id text COLLATE "C" NOT NULL REFERENCES runs ON DELETE CASCADE,
		step text NOT NULL,
		item integer NOT NULL,
		conversation integer NOT NULL,
		turn integer NOT NULL,
		call integer NOT NULL,
		rec bytea NOT NULL,
		PRIMARY KEY (run_id, step, item, conversation, turn, call)
	);
	CREATE TABLE artifacts (
		run_id text COLLATE "C" NOT NULL REFERENCES runs ON DELETE CASCADE,
		step text NOT NULL,
		name text NOT NULL,
		data bytea NOT NULL,
		PRIMARY KEY (run_id, step, name)
	);
	CREATE TABLE events (
		run_id text COLLATE "C" NOT NULL,
		seq bigint NOT NULL,
		batch bytea NOT NULL,
		rec bytea NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE logs (
		run_id text COLLATE "C" NOT NULL,
		seq bigint NOT NULL,
		batch bytea NOT NULL,
		rec bytea NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE cache (
		key text COLLATE "C" PRIMARY KEY,
		entry bytea NOT NULL
	);`,
	// 2: a record's foreign key locked its run's row at every write (a
	// third of a step's cost); a write now checks in its statement that
	// the run exists, and Delete removes the records itself. The lease
	// keeps writers and a Delete of the run apart.
	`ALTER TABLE steps DROP CONSTRAINT steps_run_id_fkey;
	ALTER TABLE items DROP CONSTRAINT items_run_id_fkey;
	ALTER TABLE turns DROP CONSTRAINT turns_run_id_fkey;
	ALTER TABLE artifacts DROP CONSTRAINT artifacts_run_id_fkey;`,
}

// LatestVersion is the newest schema version this kitaru knows.
const LatestVersion = 2

// migrate brings schema up to the last of migs, under an advisory lock so
// that kitarus opening at once migrate once; each migration is one
// transaction with its row in schema_migrations. It returns the version
// the schema is at.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migs []string) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	q := quoteIdent(schema)
	// A schema already at this version needs no lock and no CREATE: a
	// role that may only read and write the tables opens it too.
	var have int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+q+`.schema_migrations`).Scan(&have); err == nil {
		if have > len(migs) {
			return have, &SchemaError{Schema: schema, Found: have, Known: len(migs)}
		}
		if have == len(migs) {
			return have, nil
		}
	} else if !isCode(err, "42P01") && !isCode(err, "3F000") { // no such table, no such schema
		return 0, err
	}
	key := "kitaru migrate " + schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		return 0, err
	}
	defer func() {
		// A connection that failed is closed by the pool, which frees
		// the lock with it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key)
	}()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+q+`;
		CREATE TABLE IF NOT EXISTS `+q+`.schema_migrations (
			version integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
		return 0, err
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+q+`.schema_migrations`).Scan(&have); err != nil {
		return 0, err
	}
	if have > len(migs) {
		return have, &SchemaError{Schema: schema, Found: have, Known: len(migs)}
	}
	for v := have + 1; v <= len(migs); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+q); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, migs[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return v - 1, fmt.Errorf("migrating to version %d: %w", v, err)
		}
	}
	return len(migs), nil
}

// tables are the columns each of kitaru's tables must have, whatever its
// version: what checkTables looks for.
var tables = map[string][]string{
	"runs": {"id", "flow", "status", "started_at", "meta", "plan", "flow_source", "lease_token", "lease_host",
		"lease_pid", "lease_ttl_us", "lease_expires", "cancel", "cancel_seen"},
	"run_seqs":  {"run_id", "events", "logs"},
	"steps":     {"run_id", "step", "rec"},
	"items":     {"run_id", "step", "idx", "rec"},
	"turns":     {"run_id", "step", "item", "conversation", "turn", "call", "rec"},
	"artifacts": {"run_id", "step", "name", "data"},
	"events":    {"run_id", "seq", "batch", "rec"},
	"logs":      {"run_id", "seq", "batch", "rec"},
	"cache":     {"key", "entry"},
}

// DamagedSchemaError is a kitaru schema that lacks tables or columns its
// version has: dropped or altered by hand.
type DamagedSchemaError struct {
	Schema  string
	Missing []string // "table" or "table.column", sorted
}

func (e *DamagedSchemaError) Error() string {
	return fmt.Sprintf("schema %s lacks %s, which kitaru made and needs: it was altered by hand or restored in part", e.Schema, strings.Join(e.Missing, ", "))
}

// checkTables makes sure every table and column of kitaru's is there, so
// that a damaged schema is named once, as the store opens, and not as a
// query's error in the middle of a run.
func checkTables(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	// The catalog, not information_schema: that shows only what the role
	// has rights on, and a role's rights are not the schema's shape.
	rows, err := pool.Query(ctx, `SELECT c.relname, a.attname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`, schema)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		have[t] = true
		have[t+"."+c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var missing []string
	for t, cols := range tables {
		if !have[t] {
			missing = append(missing, t)
			continue
		}
		for _, c := range cols {
			if !have[t+"."+c] {
				missing = append(missing, t+"."+c)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return &DamagedSchemaError{Schema: schema, Missing: missing}
}
