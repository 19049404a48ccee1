// Package pgstore is a runstore.Store on PostgreSQL: a team's runs, their
// step records, artifacts, journals, logs, leases and cache of answers in
// one database that several machines share.
//
// Open creates kitaru's tables in their own schema and migrates them
// (schema.go). Every write is one transaction, most of them one
// statement. Leases expire by the server's clock. A call that loses the
// server (a restart, a dropped connection) retries for Options.RetryFor,
// and every write is safe to retry: records are replaced whole, journal
// appends carry a batch token that a retry checks (errors.go, journal.go).
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// Options of Open.
type Options struct {
	Schema   string // PostgreSQL schema holding kitaru's tables; "" : "kitaru"
	Password string // used when the URL carries none and PGPASSWORD is unset (a kitaru secret)
	// RetryFor is how long a call keeps retrying while the server is out of
	// reach (restarting, the connection lost) before it fails with an error
	// wrapping ErrUnreachable; 0: DefaultRetryFor, < 0: no retry.
	RetryFor time.Duration
}

// DefaultRetryFor is how long calls retry by default: long enough for a
// server restart by its operator.
const DefaultRetryFor = 20 * time.Second

// DefaultSchema holds kitaru's tables when Options.Schema is "".
const DefaultSchema = "kitaru"

// Store is a runstore.Store on one PostgreSQL schema. It is safe for
// concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	schema   string
	version  int
	retryFor time.Duration
	password string // taken out of every error's text
	// outageSince is when (unix ns) the server stopped answering, 0 while
	// it answers. The retry window runs from there for every call, so a
	// run whose store is gone stops after one window, not one per call.
	outageSince atomic.Int64

	groupMu    sync.Mutex
	groups     map[string]*pending // the runs leased here, by id
	groupDelay time.Duration
}

var _ runstore.Store = (*Store)(nil)

// IsURL says whether s is a PostgreSQL connection URL. A URL's scheme is
// read in any case (RFC 3986): POSTGRES:// is one too.
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// lowerScheme is URL u with its scheme in lower case, the only case the
// driver takes for a URL (it reads anything else as key=value settings).
func lowerScheme(u string) string {
	if !IsURL(u) {
		return u
	}
	scheme, rest, _ := strings.Cut(u, "://")
	return strings.ToLower(scheme) + "://" + rest
}

// Open connects to the database at url and creates or migrates kitaru's
// schema in it. It does not retry: a server out of reach fails it at
// once (an error wrapping ErrUnreachable), as do refused credentials
// (ErrAuth) and a schema newer than this kitaru (*SchemaError). No error
// holds the password.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	return open(ctx, url, opt, migrations)
}

func open(ctx context.Context, url string, opt Options, migs []string) (*Store, error) {
	schema := opt.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	s := &Store{schema: schema, retryFor: opt.RetryFor, groupDelay: defaultGroupDelay}
	switch {
	case s.retryFor == 0:
		s.retryFor = DefaultRetryFor
	case s.retryFor < 0:
		s.retryFor = 0
	}
	where := Redact(url)
	cfg, err := pgxpool.ParseConfig(lowerScheme(url))
	if err != nil {
		s.password = urlPassword(url)
		return nil, s.wrap("reading the database URL "+where, err)
	}
	if cfg.ConnConfig.Password == "" && os.Getenv("PGPASSWORD") == "" && opt.Password != "" {
		cfg.ConnConfig.Password = opt.Password
	}
	s.password = cfg.ConnConfig.Password
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = quoteIdent(schema)
	cfg.ConnConfig.RuntimeParams["application_name"] = "kitaru"
	// Idle connections a restart of the server broke are found before
	// use, not by the call that draws them.
	cfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap("connecting to "+where, err)
	}
	s.pool = pool
	if s.version, err = migrate(ctx, pool, schema, migs); err != nil {
		pool.Close()
		if _, ok := err.(*SchemaError); ok {
			return nil, err
		}
		op := "preparing schema " + schema + " of " + where
		if k := kindOf(err); k == ErrUnreachable || k == ErrAuth || k == ErrNoDatabase {
			op = "connecting to " + where // the connection itself failed
		}
		return nil, s.wrap(op, err)
	}
	if err := checkTables(ctx, pool, schema); err != nil {
		pool.Close()
		var de *DamagedSchemaError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, s.wrap("checking schema "+schema+" of "+where, err)
	}
	return s, nil
}

// Close closes the store's connections.
func (s *Store) Close() {
	if s.pool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.flushAll(ctx)
		cancel()
		s.pool.Close()
	}
}

// Ping checks that the server answers, without retrying.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrap("reaching the server", err)
	}
	return nil
}

// SchemaVersion is the version of kitaru's schema in the database.
func (s *Store) SchemaVersion() int { return s.version }

// Schema is the PostgreSQL schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func notFound(id string) error { return fmt.Errorf("run %s: %w", id, runstore.ErrNotFound) }

func leaseLost(id string) error { return fmt.Errorf("run %s: %w", id, runstore.ErrLeaseLost) }
