package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/pgstore"
	"github.com/kitaruhq/kitaru/keyring"
)

// Choosing the run store: KITARU_STORE (or --store, which sets it for this
// process and the commands its flows run) unset means the files under the
// data directory; a postgres:// URL, a PostgreSQL database a team shares.

// storeEnv names the variable that picks the store.
const storeEnv = "KITARU_STORE"

// storePasswordSecret is the kitaru secret a PostgreSQL store's password
// may come from (key PGPASSWORD), when neither the URL nor the environment
// carries one: `kitaru secrets set store --PGPASSWORD`.
const storePasswordSecret = "store"

// leaseTTLEnv sets how long a run's lease lasts on a shared store.
const leaseTTLEnv = "KITARU_LEASE_TTL"

// openStores keeps the stores this process opened, so that each command
// connects once however many engines it builds, and closes them at exit.
var openStores struct {
	sync.Mutex
	pg map[string]*pgstore.Store
}

// openStore opens the store KITARU_STORE names.
func openStore(ctx context.Context) (runstore.Store, error) {
	ref := os.Getenv(storeEnv)
	if ref == "" {
		return filestore.Default()
	}
	if !pgstore.IsURL(ref) {
		return nil, usageErr(fmt.Errorf("%s=%s is not a store kitaru knows: leave it unset to keep runs in files under the data directory, or give a postgres:// URL of a database to share them", storeEnv, pgstore.Redact(ref)))
	}
	return openPostgres(ctx, ref)
}

// openPostgres opens (once per process) the database at ref.
func openPostgres(ctx context.Context, ref string) (*pgstore.Store, error) {
	openStores.Lock()
	defer openStores.Unlock()
	if st := openStores.pg[ref]; st != nil {
		return st, nil
	}
	opt := pgstore.Options{}
	if needsStorePassword(ref) {
		opt.Password = storePassword()
	}
	st, err := pgstore.Open(ctx, ref, opt)
	if err != nil {
		return nil, &storeOpenError{URL: pgstore.Redact(ref), Err: err}
	}
	if openStores.pg == nil {
		openStores.pg = map[string]*pgstore.Store{}
	}
	openStores.pg[ref] = st
	return st, nil
}

// closeStores closes what openStore opened.
func closeStores() {
	openStores.Lock()
	defer openStores.Unlock()
	for ref, st := range openStores.pg {
		st.Close()
		delete(openStores.pg, ref)
	}
}

// storeOpenError is a store that could not be opened, named without its
// credentials.
type storeOpenError struct {
	URL string
	Err error
}

func (e *storeOpenError) Error() string {
	return fmt.Sprintf("the run store %s cannot be used: %v", e.URL, e.Err)
}

func (e *storeOpenError) Unwrap() error { return e.Err }

// needsStorePassword says whether a password must come from elsewhere: the
// URL has none and PGPASSWORD (which the driver reads) is unset.
func needsStorePassword(ref string) bool {
	if os.Getenv("PGPASSWORD") != "" {
		return false
	}
	u, err := url.Parse(ref)
	if err != nil {
		return false
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return false
		}
	}
	return !u.Query().Has("password")
}

// storeCredentials are the store's passwords a step's environment holds
// (in KITARU_STORE's URL, as written and decoded, and PGPASSWORD): masked
// in what steps print, as provider keys are, since steps inherit them.
func storeCredentials(getenv func(string) string) []string {
	var out []string
	if p := getenv("PGPASSWORD"); p != "" {
		out = append(out, p)
	}
	if ref := getenv("KITARU_STORE"); pgstore.IsURL(ref) {
		out = append(out, pgstore.URLPasswords(ref)...)
	}
	return out
}

// storePassword reads the store secret's PGPASSWORD; "" when there is none
// (the server may trust the connection, or refuse it and say so).
func storePassword() string {
	s, err := keyring.Open(keyring.Options{})
	if err != nil {
		return ""
	}
	kv, err := s.Get(storePasswordSecret)
	if err != nil {
		return ""
	}
	return kv["PGPASSWORD"]
}

// leaseTTL is KITARU_LEASE_TTL read as a duration (0: the engine's
// default).
func leaseTTL() (time.Duration, error) {
	v := os.Getenv(leaseTTLEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, usageErr(fmt.Errorf("%s=%s is not a duration of a second or more (for example 30s or 2m)", leaseTTLEnv, v))
	}
	return d, nil
}

// storeHint is what to do about a store that cannot be used, "" when
// nothing better than the error's own words is known.
func storeHint(err error) string {
	var se *pgstore.SchemaError
	var de *pgstore.DamagedSchemaError
	switch {
	case errors.As(err, &de):
		return fmt.Sprintf("restore schema %s from a backup, or point %s at another database; dropping the schema (DROP SCHEMA %s CASCADE) lets kitaru make it afresh, without its runs", de.Schema, storeEnv, de.Schema)
	case errors.As(err, &se):
		return fmt.Sprintf("this kitaru knows the store's tables up to version %d and the database holds version %d, made by a newer kitaru: upgrade kitaru on this machine", se.Known, se.Found)
	case errors.Is(err, pgstore.ErrNoDatabase):
		return "create the database (createdb NAME, or CREATE DATABASE) or correct its name in " + storeEnv + "; kitaru makes its tables in it itself"
	case errors.Is(err, pgstore.ErrAuth):
		return "check the user and password: in the URL, in PGPASSWORD, or in the kitaru secret '" + storePasswordSecret + "' (kitaru secrets set " + storePasswordSecret + " --PGPASSWORD)"
	case errors.Is(err, pgstore.ErrUnreachable):
		return "check that the PostgreSQL server is running and that " + storeEnv + " points at it; recorded work is kept, and kitaru resume continues a run once the server is back"
	case errors.Is(err, runstore.ErrNoSpace):
		return "the database server's disk is full: free space on it, then kitaru resume continues the run"
	}
	return ""
}

// storeName says which store st is, for people: the file store's
// directory, or the database's URL without its password.
func storeName(st runstore.Store) string {
	switch st := st.(type) {
	case *filestore.Store:
		return st.Root()
	case *pgstore.Store:
		return pgstore.Redact(os.Getenv(storeEnv))
	}
	return fmt.Sprintf("%T", st)
}

// warnStoreFlagPassword warns when --store on the command line holds a
// password: anyone on the machine who lists its processes can read it.
func warnStoreFlagPassword(w io.Writer, args []string, ref string) {
	if storeFlagGiven(args) && len(pgstore.URLPasswords(ref)) > 0 {
		fmt.Fprintln(w, "kitaru: warning: the password in --store can be read by anyone on this machine who lists its processes; give it in PGPASSWORD or the secret store (kitaru secrets set store --PGPASSWORD), or the URL in KITARU_STORE, instead")
	}
}

// storeFlagGiven says whether --store is on the command line, where other
// users of the machine can read it (the process list), rather than in
// KITARU_STORE.
func storeFlagGiven(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--store" || strings.HasPrefix(a, "--store=") {
			return true
		}
	}
	return false
}
