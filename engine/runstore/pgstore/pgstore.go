// Package pgstore is a runstore.Store on PostgreSQL: a team's runs, their
// step records, artifacts, journals, logs, leases and model-call cache in
// one database, so that several machines share them.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Options of Open.
type Options struct {
	Schema   string // PostgreSQL schema holding kitaru's tables; "" : "kitaru"
	Password string // used when the URL carries none and PGPASSWORD is unset (a kitaru secret)
	// RetryFor is how long a call keeps retrying while the server is out of
	// reach (restarting, connection lost) before it fails with an error
	// wrapping ErrUnreachable; 0: 20 seconds, < 0: no retry.
	RetryFor time.Duration
}

// Store is a runstore.Store on one PostgreSQL schema.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	version int
	retry   time.Duration
}

// ErrUnreachable is wrapped by errors of calls that gave up because the
// server could not be reached for the whole retry window.
var ErrUnreachable = errors.New("the PostgreSQL server cannot be reached")

// IsURL says whether s is a PostgreSQL connection URL.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url and creates or migrates kitaru's
// schema in it.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	return nil, errors.New("pgstore: not yet")
}

// Close closes the store's connections.
func (s *Store) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// SchemaVersion is the version of kitaru's schema in the database.
func (s *Store) SchemaVersion() int { return s.version }

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
