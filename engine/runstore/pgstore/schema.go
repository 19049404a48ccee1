package pgstore

import (
	"context"
	"fmt"

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
