package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/pgtest"
)

var me = runstore.Holder{Host: "test", PID: os.Getpid()}

// createRun records a fresh run and returns its lease.
func createRun(t testing.TB, s *Store) *runstore.Lease {
	t.Helper()
	ctx := context.Background()
	id, err := s.NewID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "f", Status: runstore.RunRunning, StartedAt: time.Now()}}
	l, err := s.Create(ctx, m, []byte("name: f\n"), me, time.Minute)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return l
}

func TestIsURLAndRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		isURL bool
		want  string
	}{
		{"postgres://u:s3cret@db:5432/k?sslmode=disable", true, "postgres://u:xxxxx@db:5432/k?sslmode=disable"},
		{"postgresql://u@db/k", true, "postgresql://u@db/k"},
		{"POSTGRES://u:s3cret@db/k", true, "postgres://u:xxxxx@db/k"},
		{"PostgreSQL://u@db/k", true, "postgresql://u@db/k"},
		{"postgres:/db/k", false, "postgres:/db/k"},
		{"postgres://db/k?password=s3cret&sslmode=require", true, "postgres://db/k?password=xxxxx&sslmode=require"},
		{"postgres://u:s3cret@db:port%zz/k", true, "postgres://…"},
		{"/var/lib/kitaru", false, "…"},
		{"mysql://u:s3cret@db/k", false, "mysql://u:xxxxx@db/k"},
		{"not a url: s3cret", false, "…"},
	} {
		if got := IsURL(tc.in); got != tc.isURL {
			t.Errorf("IsURL(%q) = %v, want %v", tc.in, got, tc.isURL)
		}
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) kept the password: %q", tc.in, got)
		}
	}
}

// A URL's scheme is read in any case, by Open too.
func TestUpperCaseScheme(t *testing.T) {
	t.Parallel()
	u := shared(t).URL()
	s, err := Open(context.Background(), "POSTGRES"+strings.TrimPrefix(u, "postgres"), Options{Schema: freshSchema(t)})
	if err != nil {
		t.Fatalf("Open of a POSTGRES:// URL: %v", err)
	}
	s.Close()
}

// The driver's text goes through the sanitizer: the password, plain or
// URL-escaped, never shows, and the kind of failure is kept.
func TestErrorsAreSanitized(t *testing.T) {
	t.Parallel()
	s := &Store{password: "p@ss w0rd"}
	for _, raw := range []string{
		"failed to connect to postgres://u:p@ss w0rd@h/k: refused",
		"failed: postgres://u:p%40ss+w0rd@h/k",
	} {
		err := s.wrap("connecting", errors.New(raw))
		if strings.Contains(err.Error(), "w0rd") {
			t.Errorf("wrap(%q) = %q: the password shows", raw, err)
		}
	}
	// A password with an @, a : and a / not percent-encoded: the URL does
	// not parse, and the whole password is still found and masked, and
	// nothing else with it.
	bad := "postgres://alice:p@ss:w/rd#Zq9@127.0.0.1:5432/k"
	if pw := urlPassword(bad); pw != "p@ss:w/rd#Zq9" {
		t.Errorf("urlPassword(%q) = %q", bad, pw)
	}
	err := (&Store{password: urlPassword(bad)}).wrap("connecting", errors.New("cannot parse `"+bad+"`: invalid port"))
	if msg := err.Error(); strings.Contains(msg, "ss:w") || !strings.Contains(msg, "cannot parse `postgres://alice:xxxxx@127.0.0.1") {
		t.Errorf("the error of a URL that does not parse reads %q", msg)
	}
}

// A role whose password the server checks (a pg_hba.conf line for it,
// scram-sha-256): the right password opens, from the URL or from
// Options.Password; a wrong one fails with ErrAuth, and no error holds
// either password.
func TestPasswordAuth(t *testing.T) {
	srv := shared(t)
	ctx := context.Background()
	const role, good, bad = "pwuser", "Good-pw-7731", "Wrong-pw-4410"
	srv.SQL(t, "kitaru", "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+role+"') THEN CREATE ROLE "+role+" LOGIN PASSWORD '"+good+"'; END IF; END$$; GRANT CREATE ON DATABASE kitaru TO "+role)
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var hba string
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Skipf("cannot read the server's pg_hba.conf to check passwords (%v); TestErrorsAreSanitized checks the text", err)
	}
	line := "host all " + role + " 127.0.0.1/32 scram-sha-256\n"
	if !strings.HasPrefix(string(old), line) {
		if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
			t.Skipf("cannot write the server's pg_hba.conf (%v)", err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	time.Sleep(200 * time.Millisecond) // the postmaster reads the file on its signal
	url := func(pw string) string {
		u := strings.Replace(srv.URL(), "kitaru@", role+"@", 1)
		if pw != "" {
			u = strings.Replace(u, role+"@", role+":"+pw+"@", 1)
		}
		return u
	}
	t.Setenv("PGPASSWORD", "")
	os.Unsetenv("PGPASSWORD")
	for _, tc := range []struct {
		name    string
		url     string
		opt     Options
		wantErr error
	}{
		{"password in the URL", url(good), Options{}, nil},
		{"password in Options", url(""), Options{Password: good}, nil},
		{"wrong password in the URL", url(bad), Options{}, ErrAuth},
		{"wrong password in Options", url(""), Options{Password: bad}, ErrAuth},
		{"no password", url(""), Options{}, ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Schema = "pw_" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "_")
			s, err := Open(ctx, tc.url, tc.opt)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				l := createRun(t, s)
				if err := s.Release(ctx, l); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open = %v, want %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), bad) {
				t.Fatalf("the error holds a password: %v", err)
			}
		})
	}
}

func TestSchemaVersions(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	ctx := context.Background()
	schema := freshSchema(t)
	s := newStore(t, Options{Schema: schema})
	if s.SchemaVersion() != LatestVersion {
		t.Fatalf("SchemaVersion = %d, want %d", s.SchemaVersion(), LatestVersion)
	}
	l := createRun(t, s)
	_ = s.Release(ctx, l)
	s.Close()
	// A newer kitaru migrates the schema on...
	newer := append(append([]string(nil), migrations...), `ALTER TABLE runs ADD COLUMN note text`)
	n, err := open(ctx, srv.URL(), Options{Schema: schema}, newer)
	if err != nil {
		t.Fatalf("open with a newer migration: %v", err)
	}
	if n.SchemaVersion() != LatestVersion+1 {
		t.Fatalf("after migrating, version %d", n.SchemaVersion())
	}
	if ok, err := n.Exists(ctx, l.RunID); !ok || err != nil {
		t.Fatalf("the run did not survive the migration: %v, %v", ok, err)
	}
	n.Close()
	// ...and this one refuses it, saying which versions.
	_, err = Open(ctx, srv.URL(), Options{Schema: schema})
	var se *SchemaError
	if !errors.As(err, &se) || se.Found != LatestVersion+1 || se.Known != LatestVersion || se.Schema != schema {
		t.Fatalf("Open of a newer schema = %v, want a *SchemaError of %d and %d", err, LatestVersion+1, LatestVersion)
	}
}

// Kitarus opening one new schema at once migrate it once.
func TestConcurrentOpens(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	ctx := context.Background()
	schema := freshSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := Open(ctx, srv.URL(), Options{Schema: schema})
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent Open: %v", err)
		}
	}
	s := newStore(t, Options{Schema: schema})
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestVersion {
		t.Fatalf("%d migration rows, %v; want %d", n, err, LatestVersion)
	}
}

// Leases end by the server's clock: Expires is the server's now plus the
// ttl, a lease not renewed is free after it, and its holder has lost it.
func TestLeaseExpiresByServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	var now time.Time
	if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	if l.Expires.IsZero() || l.Expires.Before(now.Add(50*time.Second)) || l.Expires.After(now.Add(time.Minute)) {
		t.Fatalf("Expires = %v, want about a minute after the server's %v", l.Expires, now)
	}
	_ = s.Release(ctx, l)
	short, err := s.Acquire(ctx, l.RunID, me, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	other := runstore.Holder{Host: "other", PID: 7}
	var he *runstore.HeldError
	if _, err := s.Acquire(ctx, l.RunID, other, time.Minute); !errors.As(err, &he) || he.Holder != me {
		t.Fatalf("Acquire of a live lease = %v, want a *HeldError naming %v", err, me)
	}
	// Wait for the server's clock to pass the lease's end.
	for {
		if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			t.Fatal(err)
		}
		if now.After(short.Expires) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h, err := s.Holder(ctx, l.RunID); h != nil || err != nil {
		t.Fatalf("Holder of an expired lease = %v, %v", h, err)
	}
	taken, err := s.Acquire(ctx, l.RunID, other, time.Minute)
	if err != nil {
		t.Fatalf("Acquire of an expired lease: %v", err)
	}
	if err := s.Renew(ctx, short); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Fatalf("Renew of a lease taken over = %v, want ErrLeaseLost", err)
	}
	_ = s.Release(ctx, taken)
}

// A retried append whose first attempt committed (its answer lost) adds
// nothing: the batch token finds it.
func TestRetriedAppendDoesNotDuplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	recs := [][]byte{[]byte(`{"type":"step_started"}`), []byte(`{"type":"step_finished"}`)}
	batch := []byte("0123456789abcdef")
	if err := s.appendAttempt(ctx, l.RunID, eventsJournal, recs, batch, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.appendAttempt(ctx, l.RunID, eventsJournal, recs, batch, true, nil); err != nil {
		t.Fatal(err)
	}
	other := []byte("fedcba9876543210")
	if err := s.appendAttempt(ctx, l.RunID, eventsJournal, recs[:1], other, true, nil); err != nil {
		t.Fatal(err)
	}
	evs, _, err := s.Events(ctx, l.RunID, 0, 0)
	if err != nil || len(evs) != 3 || evs[2].Seq != 3 || evs[2].Type != runstore.EventStepStarted {
		t.Fatalf("after a batch, its retry and another batch: %+v, %v; want 3 events", evs, err)
	}
}

// The server's disk full (SQLSTATE 53100) wraps runstore.ErrNoSpace. A
// trigger raises it: a tablespace on a small tmpfs would need the
// server's user to own a mount, and fills the disk under every other test
// of the shared server too.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END$$;
		CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON steps FOR EACH ROW EXECUTE FUNCTION full_disk()`); err != nil {
		t.Fatal(err)
	}
	err := s.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "a", Kind: flowspec.KindCheckpoint, Status: runstore.StepCompleted})
	var pe *Error
	if !errors.Is(err, runstore.ErrNoSpace) || !errors.As(err, &pe) || pe.Code != "53100" {
		t.Fatalf("SaveStep on a full disk = %v, want ErrNoSpace with SQLSTATE 53100", err)
	}
	if r, err := s.LoadStep(ctx, l.RunID, "a"); r != nil || err != nil {
		t.Fatalf("a refused step was kept: %v, %v", r, err)
	}
}

// A server restarted while a run writes (steps and their events, as the
// engine does) loses none of them, and numbers the events once each; a
// server down for longer than the retry window fails the write clearly,
// and leaves no part of it.
func TestServerOutage(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	s, err := Open(ctx, srv.URL(), Options{RetryFor: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := createRun(t, s)
	id := l.RunID

	t.Run("RestartDuringWrites", func(t *testing.T) {
		const n = 60
		errs := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			defer close(errs)
			for i := range n {
				if i == 10 {
					close(started)
				}
				step := fmt.Sprint("s", i)
				if err := s.SaveStep(ctx, id, &runstore.StepResult{ID: step, Status: runstore.StepCompleted, Output: i}); err != nil {
					errs <- fmt.Errorf("SaveStep %d: %w", i, err)
					return
				}
				if err := s.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventStepStarted, Step: step}, runstore.Event{Type: runstore.EventStepFinished, Step: step}); err != nil {
					errs <- fmt.Errorf("AppendEvents %d: %w", i, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		<-started
		srv.Stop(t)
		time.Sleep(time.Second)
		srv.Restart(t)
		for err := range errs {
			t.Fatal(err)
		}
		steps, err := s.LoadSteps(ctx, id)
		if err != nil || len(steps) != n {
			t.Fatalf("%d steps after the restart, %v; want %d", len(steps), err, n)
		}
		evs, _, err := s.Events(ctx, id, 0, 0)
		if err != nil || len(evs) != 2*n {
			t.Fatalf("%d events after the restart, %v; want %d", len(evs), err, 2*n)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.Step != fmt.Sprint("s", i/2) {
				t.Fatalf("event %d is %d of step %s", i, e.Seq, e.Step)
			}
		}
	})

	t.Run("LongerThanTheRetryWindow", func(t *testing.T) {
		const window = 3 * time.Second
		quick, err := Open(ctx, srv.URL(), Options{RetryFor: window})
		if err != nil {
			t.Fatal(err)
		}
		defer quick.Close()
		srv.Stop(t)
		err = quick.SaveStep(ctx, id, &runstore.StepResult{ID: "late", Status: runstore.StepCompleted})
		// The window is the outage's, not each call's: once it has run
		// out, the next call gives up at once instead of waiting anew.
		began := time.Now()
		err2 := quick.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventStepFinished, Step: "late"})
		if took := time.Since(began); took >= window/2 {
			t.Errorf("a call after the window had run out retried for %v", took)
		}
		srv.Restart(t)
		// The server back, the window is whole again.
		if _, err := quick.LoadSteps(ctx, id); err != nil {
			t.Fatalf("the first call after the restart = %v", err)
		}
		for _, err := range []error{err, err2} {
			var pe *Error
			if !errors.Is(err, ErrUnreachable) || !errors.As(err, &pe) {
				t.Fatalf("a write while the server is down = %v, want an *Error wrapping ErrUnreachable", err)
			}
		}
		if !strings.Contains(err.Error(), "saving step late of run "+id) {
			t.Errorf("the error does not say what failed: %v", err)
		}
		if r, err := s.LoadStep(ctx, id, "late"); r != nil || err != nil {
			t.Fatalf("a failed SaveStep left a record: %v, %v", r, err)
		}
		evs, _, err := s.Events(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Step == "late" {
				t.Fatalf("a failed AppendEvents left event %d", e.Seq)
			}
		}
	})

	t.Run("Refused", func(t *testing.T) {
		srv.Stop(t)
		defer srv.Restart(t)
		_, err := Open(ctx, srv.URL(), Options{})
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Open of a stopped server = %v, want ErrUnreachable", err)
		}
	})
}

// Delete takes the journal and log with the run, though they have no
// foreign key: no row of the run is left in any table.
func TestDeleteLeavesNoRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	for what, err := range map[string]error{
		"AppendEvents":  s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventRunStarted}),
		"AppendLog":     s.AppendLog(ctx, l.RunID, runstore.LogLine{Text: "x"}),
		"SaveStep":      s.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}),
		"WriteArtifact": s.WriteArtifact(ctx, l.RunID, "a", "prompt.json", []byte("{}")),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := s.Delete(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"runs", "run_seqs", "steps", "items", "turns", "artifacts", "events", "logs"} {
		col := "run_id"
		if table == "runs" {
			col = "id"
		}
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, l.RunID).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d rows of the deleted run in %s (%v)", n, table, err)
		}
	}
	if err := s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventRunFinished}); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("AppendEvents after Delete = %v, want ErrNotFound", err)
	}
}

// A leased run's events go to the server with its next record, at its
// release, when read, or on their own after a short delay; a follower on
// another connection sees them then, in order.
func TestEventsGroupWithTheNextWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	runner := newStore(t, Options{})
	follower, err := Open(ctx, shared(t).URL(), Options{Schema: runner.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	steps := func(id string) []string {
		t.Helper()
		evs, _, err := follower.Events(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Step)
		}
		return got
	}
	ev := func(step string) runstore.Event { return runstore.Event{Type: runstore.EventStepFinished, Step: step} }

	runner.groupDelay = time.Hour // only the writes below send them
	l := createRun(t, runner)
	id := l.RunID
	if err := runner.AppendEvents(ctx, id, ev("a"), ev("b")); err != nil {
		t.Fatal(err)
	}
	if got := steps(id); len(got) != 0 {
		t.Fatalf("events went out on their own at once: %v", got)
	}
	if err := runner.SaveStep(ctx, id, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps(id), " "); got != "a b" {
		t.Fatalf("after the next record the follower sees %q, want \"a b\"", got)
	}
	if err := runner.AppendEvents(ctx, id, ev("c")); err != nil {
		t.Fatal(err)
	}
	if evs, _, err := runner.Events(ctx, id, 2, 0); err != nil || len(evs) != 1 || evs[0].Step != "c" || evs[0].Seq != 3 {
		t.Fatalf("the runner reads its own events: %+v, %v", evs, err)
	}
	if err := runner.AppendEvents(ctx, id, ev("d")); err != nil {
		t.Fatal(err)
	}
	if err := runner.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps(id), " "); got != "a b c d" {
		t.Fatalf("after the release the follower sees %q, want \"a b c d\"", got)
	}
	// Not leased here: written at once.
	if err := runner.AppendEvents(ctx, id, ev("e")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps(id), " "); got != "a b c d e" {
		t.Fatalf("an event of a run not leased here waits: %q", got)
	}

	runner.groupDelay = 5 * time.Millisecond
	l2 := createRun(t, runner)
	if err := runner.AppendEvents(ctx, l2.RunID, ev("x")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(steps(l2.RunID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a held event never went out on its own")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A record and the events sent with it are one statement: a record the
// server refuses takes its events with it, and they go with the next
// record that is written.
func TestRecordAndItsEventsAreOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	s.groupDelay = time.Hour // only the writes below send them
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END$$;
		CREATE TRIGGER refuse_x BEFORE INSERT ON steps FOR EACH ROW WHEN (NEW.step = 'x') EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	l := createRun(t, s)
	count := func() (n int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE run_id = $1`, l.RunID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventStepFinished, Step: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "x", Status: runstore.StepCompleted}); err == nil {
		t.Fatal("the refused record was written")
	}
	if n := count(); n != 0 {
		t.Fatalf("the events of a refused record went in: %d", n)
	}
	if err := s.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "y", Status: runstore.StepCompleted}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after the next record %d events are in, want 1", n)
	}
	if r, err := s.LoadStep(ctx, l.RunID, "y"); err != nil || r == nil {
		t.Fatalf("LoadStep y = %v, %v", r, err)
	}
}

// Events appended steadily with no record between go out on their own
// within the delay of the first of them: appends keep none waiting.
func TestHeldEventsWaitNoLongerThanTheDelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	s.groupDelay = 30 * time.Millisecond
	l := createRun(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE run_id = $1`, l.RunID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("events appended every 5ms never went out on their own")
		}
		if err := s.AppendEvents(ctx, l.RunID, runstore.Event{Type: runstore.EventStepStarted, Step: "a"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A run whose journal counters are gone (its run_seqs row deleted by
// hand) is damaged, not a run that does not exist: appends say so.
func TestRunWithoutCountersIsDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	runner := newStore(t, Options{})
	runner.groupDelay = time.Hour
	other, err := Open(ctx, shared(t).URL(), Options{Schema: runner.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l := createRun(t, runner)
	id := l.RunID
	if err := runner.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventStepStarted, Step: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := runner.pool.Exec(ctx, `DELETE FROM run_seqs WHERE run_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"SaveStep with held events": runner.SaveStep(ctx, id, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}),
		"AppendLog":                 runner.AppendLog(ctx, id, runstore.LogLine{Text: "x"}),
		"AppendEvents from another": other.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventStepStarted, Step: "b"}),
	} {
		var de *runstore.DamagedError
		if !errors.As(err, &de) || de.Part != runstore.PartJournal || de.RunID != id || errors.Is(err, runstore.ErrNotFound) {
			t.Errorf("%s = %v, want the run's journal damaged", what, err)
		}
	}
	if r, err := runner.LoadStep(ctx, id, "a"); r != nil || err != nil {
		t.Errorf("the record of a write whose events could not be numbered was kept: %v, %v", r, err)
	}
}

// A log row that does not decode is left out and reported, with its
// number, beside the lines that read.
func TestDamagedLogLineIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	if err := s.AppendLog(ctx, l.RunID, runstore.LogLine{Text: "one"}, runstore.LogLine{Text: "two"}, runstore.LogLine{Text: "three"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE logs SET rec = '\x7b6e6f74' WHERE run_id = $1 AND seq = 2`, l.RunID); err != nil {
		t.Fatal(err)
	}
	lines, err := s.Logs(ctx, l.RunID, 0)
	var de *runstore.DamagedError
	if !errors.As(err, &de) || de.Part != runstore.PartLog || de.Line != 2 || de.RunID != l.RunID {
		t.Fatalf("Logs = %v, want line 2 reported damaged", err)
	}
	if len(lines) != 2 || lines[0].Text != "one" || lines[1].Text != "three" || lines[1].Seq != 3 {
		t.Fatalf("Logs kept %+v, want lines 1 and 3", lines)
	}
	if lines, err := s.Logs(ctx, l.RunID, 2); err != nil || len(lines) != 1 {
		t.Fatalf("Logs after the damaged line = %+v, %v", lines, err)
	}
}

// Damaged runs are reported beside a page, not counted in its Limit: every
// whole run is still listed, pages full, however the damaged fall.
func TestQuerySkipsDamagedRunsWithoutShortPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	var ids []string
	for range 9 {
		ids = append(ids, createRun(t, s).RunID)
	}
	// Damage all but three: newest first the list reads bad, bad, whole...
	whole := []string{ids[0], ids[3], ids[6]}
	if _, err := s.pool.Exec(ctx, `UPDATE runs SET meta = '\x6e6f74'::bytea WHERE NOT (id = ANY($1))`, whole); err != nil {
		t.Fatal(err)
	}
	var got []string
	damagedSeen, pages := 0, 0
	storetest.Pages(t, s, runstore.Query{Limit: 2}, func(page runstore.Page, err error) {
		var bad runstore.DamagedRuns
		if err != nil && !errors.As(err, &bad) {
			t.Fatal(err)
		}
		damagedSeen += len(bad)
		if page.Next != "" && len(page.Runs) != 2 {
			t.Fatalf("page %d has %d runs and a next page", pages, len(page.Runs))
		}
		for _, m := range page.Runs {
			got = append(got, m.ID)
		}
		pages++
	})
	if want := []string{whole[2], whole[1], whole[0]}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want %v", got, want)
	}
	if damagedSeen != 6 {
		t.Errorf("%d damaged runs reported, want 6", damagedSeen)
	}
}

// A store made by a kitaru of schema version 1 (records bound to their run
// by foreign keys) upgrades in place: its runs read, take new records,
// refuse records of runs not there, and delete whole.
func TestUpgradeFromVersion1(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	ctx := context.Background()
	schema := freshSchema(t)
	old, err := open(ctx, srv.URL(), Options{Schema: schema}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	l := createRun(t, old)
	if err := old.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := old.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s := newStore(t, Options{Schema: schema})
	if s.SchemaVersion() != LatestVersion {
		t.Fatalf("after the upgrade, version %d", s.SchemaVersion())
	}
	if r, err := s.LoadStep(ctx, l.RunID, "a"); err != nil || r == nil || r.Output != "kept" {
		t.Fatalf("a step recorded before the upgrade reads %+v, %v", r, err)
	}
	l, err = s.Acquire(ctx, l.RunID, me, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveItem(ctx, l.RunID, "b", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"SaveStep":      s.SaveStep(ctx, "kr-none", &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}),
		"SaveItem":      s.SaveItem(ctx, "kr-none", "b", &runstore.ItemResult{Index: 0}),
		"SaveTurn":      s.SaveTurn(ctx, "kr-none", "c", &runstore.TurnRecord{}),
		"WriteArtifact": s.WriteArtifact(ctx, "kr-none", "a", "prompt.txt", []byte("x")),
	} {
		if !errors.Is(err, runstore.ErrNotFound) {
			t.Errorf("%s of a run not there = %v, want ErrNotFound", what, err)
		}
	}
	if err := s.Delete(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"steps", "items", "turns", "artifacts"} {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d rows left in %s after Delete, %v", n, table, err)
		}
	}
}

// A runner whose lease ran out and was taken over writes nothing more:
// each of its writes is refused as a lost lease, and the new holder's
// records stand.
func TestWritesAfterATakeoverAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newStore(t, Options{})
	b, err := Open(ctx, shared(t).URL(), Options{Schema: a.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id, err := a.NewID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "f", Status: runstore.RunRunning, StartedAt: time.Now()}}
	if _, err := a.Create(ctx, m, []byte("name: f\n"), me, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveStep(ctx, id, &runstore.StepResult{ID: "s", Status: runstore.StepCompleted, Output: "a's"}); err != nil {
		t.Fatal(err)
	}
	var lb *runstore.Lease
	waitUntil(t, "a's lease to run out", func() bool {
		lb, err = b.Acquire(ctx, id, runstore.Holder{Host: "b", PID: 2}, time.Minute)
		return err == nil
	})
	if err := b.SaveStep(ctx, id, &runstore.StepResult{ID: "s", Status: runstore.StepCompleted, Output: "b's"}); err != nil {
		t.Fatal(err)
	}
	a.groupDelay = time.Hour
	_ = a.AppendEvents(ctx, id, runstore.Event{Type: runstore.EventStepFinished, Step: "late"})
	for what, err := range map[string]error{
		"SaveStep":      a.SaveStep(ctx, id, &runstore.StepResult{ID: "s", Status: runstore.StepCompleted, Output: "a's late"}),
		"SaveItem":      a.SaveItem(ctx, id, "f", &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}),
		"SaveTurn":      a.SaveTurn(ctx, id, "t", &runstore.TurnRecord{}),
		"WriteArtifact": a.WriteArtifact(ctx, id, "s", "prompt.txt", []byte("late")),
		"SaveMeta":      a.SaveMeta(ctx, &runstore.RunMeta{Run: runstore.Run{ID: id, Flow: "f", Status: runstore.RunFailed, StartedAt: m.StartedAt}}),
	} {
		if !errors.Is(err, runstore.ErrLeaseLost) {
			t.Errorf("%s after the takeover = %v, want ErrLeaseLost", what, err)
		}
	}
	if _, _, err := a.Events(ctx, id, 0, 0); !errors.Is(err, runstore.ErrLeaseLost) {
		t.Errorf("sending the late events = %v, want ErrLeaseLost", err)
	}
	if r, err := b.LoadStep(ctx, id, "s"); err != nil || r.Output != "b's" {
		t.Errorf("the new holder's step reads %+v, %v", r, err)
	}
	if got, err := b.LoadMeta(ctx, id); err != nil || got.Status != runstore.RunRunning {
		t.Errorf("the run's meta after the old runner's write: %+v, %v", got, err)
	}
	evs, _, err := b.Events(ctx, id, 0, 0)
	if err != nil || len(evs) != 0 {
		t.Errorf("the old runner's events got in: %+v, %v", evs, err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A role that may read and write kitaru's tables but create nothing (a
// team's everyday role, the schema made by an owner) opens a store that
// is at this version: it is not asked to CREATE or migrate anything.
func TestRoleWithoutCreateOpensAMigratedStore(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	ctx := context.Background()
	owner := newStore(t, Options{})
	schema := owner.Schema()
	const role = "rwonly"
	q := quoteIdent(schema)
	srv.SQL(t, "kitaru", "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+role+"') THEN CREATE ROLE "+role+" LOGIN; END IF; END$$; "+
		"REVOKE CREATE ON DATABASE kitaru FROM "+role+"; GRANT USAGE ON SCHEMA "+q+" TO "+role+"; "+
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+q+" TO "+role)
	s, err := Open(ctx, strings.Replace(srv.URL(), "kitaru@", role+"@", 1), Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open as a role that may not create: %v", err)
	}
	defer s.Close()
	l := createRun(t, s)
	if err := s.SaveStep(ctx, l.RunID, &runstore.StepResult{ID: "a", Status: runstore.StepCompleted}); err != nil {
		t.Fatal(err)
	}
	if page, err := s.Query(ctx, runstore.Query{Limit: 5}); err != nil || len(page.Runs) != 1 {
		t.Fatalf("Query as that role: %d runs, %v", len(page.Runs), err)
	}
}

// A schema altered by hand (a table dropped, a column dropped) is named
// as the store opens, with what it lacks, instead of failing queries.
func TestDamagedSchemaIsNamedAtOpen(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	ctx := context.Background()
	for _, tc := range []struct {
		damage, want string
	}{
		{"DROP TABLE steps", "steps"},
		{"ALTER TABLE runs DROP COLUMN lease_token", "runs.lease_token"},
	} {
		s := newStore(t, Options{})
		schema := s.Schema()
		if _, err := s.pool.Exec(ctx, tc.damage); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := Open(ctx, srv.URL(), Options{Schema: schema})
		var de *DamagedSchemaError
		if !errors.As(err, &de) || strings.Join(de.Missing, " ") != tc.want || de.Schema != schema {
			t.Errorf("Open after %q = %v, want a *DamagedSchemaError naming %s", tc.damage, err, tc.want)
		}
	}
}

// A meta that decodes but is no run's (an empty object, null, another
// run's) is damaged, not a run without an id.
func TestMetaOfNoRunIsDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	for _, meta := range []string{`{}`, `null`, `{"id":"kr-other"}`} {
		l := createRun(t, s)
		if _, err := s.pool.Exec(ctx, `UPDATE runs SET meta = convert_to($2, 'UTF8') WHERE id = $1`, l.RunID, meta); err != nil {
			t.Fatal(err)
		}
		var de *runstore.DamagedError
		if _, err := s.LoadMeta(ctx, l.RunID); !errors.As(err, &de) || de.Part != runstore.PartMeta {
			t.Errorf("LoadMeta of meta %s = %v, want a damaged meta", meta, err)
		}
		if _, err := s.LoadSummary(ctx, l.RunID); !errors.As(err, &de) {
			t.Errorf("LoadSummary of meta %s = %v, want a damaged meta", meta, err)
		}
	}
	page, err := s.Query(ctx, runstore.Query{})
	var bad runstore.DamagedRuns
	if !errors.As(err, &bad) || len(bad) != 3 || len(page.Runs) != 0 {
		t.Errorf("Query = %d runs, %v; want 3 damaged", len(page.Runs), err)
	}
}

// A port where something accepts and never answers (not PostgreSQL) is a
// store out of reach, said as such, not a bare deadline.
func TestSilentServerIsUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = Open(context.Background(), "postgres://kitaru@"+ln.Addr().String()+"/kitaru?sslmode=disable&connect_timeout=1", Options{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open of a server that never answers = %v, want ErrUnreachable", err)
	}
}

// A URL naming a database the server lacks says so (ErrNoDatabase).
func TestMissingDatabase(t *testing.T) {
	t.Parallel()
	url := strings.Replace(shared(t).URL(), "/kitaru?", "/no_such_db?", 1)
	if _, err := Open(context.Background(), url, Options{}); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("Open of %s = %v, want ErrNoDatabase", url, err)
	}
}

func TestTidyConnectErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"failed to connect to `user=k database=k`:\n\th:1 (h): tls error: server refused TLS connection\n\th:1 (h): dial error: refused",
			"failed to connect to `user=k database=k`: h:1 (h): dial error: refused"},
		{"x (failed to connect to `user=k`:\n\ta: dial error: refused\n\ta: dial error: refused)",
			"x (failed to connect to `user=k`: a: dial error: refused)"},
		{"ERROR: relation \"x\" does not exist", "ERROR: relation \"x\" does not exist"},
	} {
		if got := tidy(tc.in); got != tc.want {
			t.Errorf("tidy(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestURLPasswords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"postgres://u:p%40ss@h/k", []string{"p@ss", "p%40ss"}},
		{"postgres://u@h/k?password=s3cret", []string{"s3cret"}},
		{"postgres://alice:p@ss:w/rd#Zq9@h:5432/k", []string{"p@ss:w/rd#Zq9"}},
		{"postgres://u@h/k", nil},
	} {
		if got := URLPasswords(tc.url); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("URLPasswords(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// SaveRecords writes a run's records in one transaction: all of them, or
// none when one cannot be written; a batch of a run whose lease was taken
// over is refused whole.
func TestSaveRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, Options{})
	l := createRun(t, s)
	id := l.RunID
	recs := []runstore.Record{
		{Step: "a", Result: &runstore.StepResult{ID: "a", Status: runstore.StepCompleted, Output: "one"}},
		{Step: "b", Item: &runstore.ItemResult{Index: 2, Status: runstore.StepCompleted, Output: 20.0}},
		{Step: "c", Turn: &runstore.TurnRecord{Conversation: 1, Turn: 2}},
		{Step: "a", Artifact: "prompt.txt", Data: []byte("hello")},
	}
	if err := s.SaveRecords(ctx, id, recs); err != nil {
		t.Fatal(err)
	}
	if r, err := s.LoadStep(ctx, id, "a"); err != nil || r == nil || r.Output != "one" {
		t.Errorf("step a: %+v, %v", r, err)
	}
	if items, err := s.LoadItems(ctx, id, "b"); err != nil || items[2] == nil || items[2].Output != 20.0 {
		t.Errorf("items of b: %+v, %v", items, err)
	}
	if turns, err := s.LoadTurns(ctx, id, "c", nil); err != nil || len(turns) != 1 || turns[0].Turn != 2 {
		t.Errorf("turns of c: %+v, %v", turns, err)
	}
	if data, err := s.ReadArtifact(ctx, id, "a", "prompt.txt"); err != nil || string(data) != "hello" {
		t.Errorf("artifact: %q, %v", data, err)
	}

	// One record the server refuses: none of the batch is kept.
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION refuse_z() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END$$;
		CREATE TRIGGER refuse_z BEFORE INSERT ON items FOR EACH ROW WHEN (NEW.step = 'z') EXECUTE FUNCTION refuse_z()`); err != nil {
		t.Fatal(err)
	}
	err := s.SaveRecords(ctx, id, []runstore.Record{
		{Step: "y", Result: &runstore.StepResult{ID: "y", Status: runstore.StepCompleted}},
		{Step: "z", Item: &runstore.ItemResult{Index: 0, Status: runstore.StepCompleted}},
	})
	if err == nil {
		t.Fatal("a batch with a refused record was written")
	}
	if r, err := s.LoadStep(ctx, id, "y"); r != nil || err != nil {
		t.Errorf("a record of the refused batch was kept: %+v, %v", r, err)
	}

	// Its lease taken over: refused whole, nothing written.
	if _, err := s.pool.Exec(ctx, `UPDATE runs SET lease_token = 'another' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	err = s.SaveRecords(ctx, id, []runstore.Record{{Step: "x", Result: &runstore.StepResult{ID: "x", Status: runstore.StepCompleted}}})
	if !errors.Is(err, runstore.ErrLeaseLost) {
		t.Errorf("SaveRecords after a takeover = %v, want ErrLeaseLost", err)
	}
	if r, err := s.LoadStep(ctx, id, "x"); r != nil || err != nil {
		t.Errorf("a record written after the takeover: %+v, %v", r, err)
	}
}
