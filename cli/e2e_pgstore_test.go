package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/pgtest"
)

// The shared store end to end: two "machines" are two kitaru
// installations (their own HOME, data and config dirs) pointed at one
// PostgreSQL database.

var (
	pgOnce   sync.Once
	pgServer *pgtest.Server
	pgWhy    string
	pgDBs    atomic.Int64
)

// teamStore is a fresh database on the shared test server; it skips t when
// no server binaries exist.
func teamStore(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() { pgServer, pgWhy = pgtest.Shared() })
	if pgServer == nil {
		t.Skip(pgWhy)
	}
	return pgServer.DatabaseURL(t, fmt.Sprintf("e2e%d_%d", time.Now().UnixNano()%1e9, pgDBs.Add(1)))
}

// twoMachines makes two installations sharing the store at url; their
// flows and counters live in A's work dir, which B reads too.
func twoMachines(t *testing.T, url string) (a, b *e2e) {
	a, b = newE2E(t), newE2E(t)
	b.Dir = a.Dir
	for _, m := range []*e2e{a, b} {
		m.setenv("KITARU_STORE", url)
	}
	return a, b
}

func TestE2EPostgresTwoMachinesShareRuns(t *testing.T) {
	url := teamStore(t)
	a, b := twoMachines(t, url)
	flow := a.flow("wait.yaml", waitFlow)

	// A starts a run that waits for an answer; B sees it and answers.
	r := a.must(3, "run", flow)
	id := announcedID(t, r.Stdout)
	list := b.must(0, "executions", "list")
	if !strings.Contains(list.Stdout, id) {
		t.Fatalf("machine B does not list A's run %s:\n%s", id, list.Stdout)
	}
	good := b.must(0, "input", id, "--value", "true", "--quiet")
	if printedOutput(t, good.Stdout) != "shipped" {
		t.Errorf("the run answered on B printed %q", good.Stdout)
	}
	if a.count("prep.done") != 1 || a.count("ship.done") != 1 {
		t.Errorf("prep ran %d times, ship %d; want 1 and 1", a.count("prep.done"), a.count("ship.done"))
	}
	// A reads what B finished, and its log.
	if rec := a.record(id); rec.Status != engine.RunCompleted {
		t.Errorf("A reads the run as %s, want completed", rec.Status)
	}
	if logs := a.must(0, "executions", "logs", id, "--step", "ship"); !strings.Contains(logs.Stdout, "shipped") {
		t.Errorf("A's logs of the run lack the ship step's line:\n%s", logs.Stdout)
	}

	// B replays A's run from its last step: only that step runs again.
	rep := b.must(0, "replay", id, "--from", "ship", "--quiet")
	if printedOutput(t, rep.Stdout) != "shipped" {
		t.Errorf("the replay printed %q", rep.Stdout)
	}
	if a.count("prep.done") != 1 || a.count("ship.done") != 2 {
		t.Errorf("after the replay prep ran %d times, ship %d; want 1 and 2", a.count("prep.done"), a.count("ship.done"))
	}
	replay := a.record("last")
	if replay.ID == id || stepOf(t, replay, "prep").ReusedFrom != id {
		t.Errorf("A's last run is %s with prep reused from %q; want the replay reusing %s", replay.ID, stepOf(t, replay, "prep").ReusedFrom, id)
	}
}

func TestE2EPostgresStatusNamesTheStoreWithoutItsPassword(t *testing.T) {
	url := teamStore(t)
	m := newE2E(t)
	m.setenv("KITARU_STORE", strings.Replace(url, "kitaru@", "kitaru:hunter2secret@", 1))
	// The test server trusts loopback, so the password is carried, not
	// checked: what matters is that it is never shown.
	out := m.must(0, "status")
	if strings.Contains(out.Stdout+out.Stderr, "hunter2secret") {
		t.Fatalf("status shows the store's password:\n%s", out)
	}
	if !strings.Contains(out.Stdout, "PostgreSQL, reachable, schema version") {
		t.Errorf("status does not say the store is reachable:\n%s", out.Stdout)
	}
	js := m.must(0, "status", "--json")
	var rep struct {
		Store statusStore `json:"store"`
	}
	if err := json.Unmarshal([]byte(js.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Store.Kind != "postgres" || !rep.Store.Reachable || !strings.Contains(rep.Store.Location, "xxxxx") || strings.Contains(js.Stdout, "hunter2secret") {
		t.Errorf("status --json store = %+v", rep.Store)
	}

	// A step inherits the store's URL and PGPASSWORD, as it inherits
	// provider keys; what it prints of them is masked in the records.
	m.setenv("PGPASSWORD", "pgpass0word")
	leak := m.flow("leak.yaml", "name: leak\nsteps:\n  env:\n    kind: checkpoint\n    run: echo \"$KITARU_STORE $PGPASSWORD\"\n")
	m.must(0, "run", leak, "--quiet")
	rec := m.must(0, "executions", "get", "last", "--json")
	logs := m.must(0, "executions", "logs", "last")
	for _, secret := range []string{"hunter2secret", "pgpass0word"} {
		if strings.Contains(rec.Stdout+logs.Stdout, secret) {
			t.Errorf("a step's output keeps the store's password %q:\n%s\n%s", secret, rec.Stdout, logs.Stdout)
		}
	}
	if !strings.Contains(rec.Stdout, "kitaru:***@") {
		t.Errorf("the masked URL is not in the step's output:\n%s", rec.Stdout)
	}

	// A server nobody listens on: a clear error, no password.
	m.setenv("KITARU_STORE", "postgres://kitaru:hunter2secret@127.0.0.1:1/kitaru?sslmode=disable&connect_timeout=2")
	bad := m.run("executions", "list")
	if bad.Code == 0 || strings.Contains(bad.Stderr, "hunter2secret") || !strings.Contains(bad.Stderr, "cannot be reached") || !strings.Contains(bad.Stderr, "KITARU_STORE") {
		t.Errorf("an unreachable store:\n%s", bad)
	}
	if st := m.must(0, "status"); !strings.Contains(st.Stdout, "(PostgreSQL, not reachable)") || !strings.Contains(st.Stdout, "check that the PostgreSQL server is running") {
		t.Errorf("status of an unreachable store:\n%s", st.Stdout)
	}
	m.setenv("KITARU_STORE", "mysql://x")
	if r := m.must(2, "executions", "list"); !strings.Contains(r.Stderr, "postgres://") {
		t.Errorf("an unknown store kind:\n%s", r)
	}
	if st := m.must(0, "status"); !strings.Contains(st.Stdout, "(not a store kitaru knows)") || strings.Contains(st.Stdout, "PostgreSQL") {
		t.Errorf("status of an unknown store kind:\n%s", st.Stdout)
	}
}

// A runner killed on A holds its run until its lease expires: B is
// refused, naming the holder, then takes it over; finished steps do not
// run again.
func TestE2EPostgresResumeElsewhereAfterTheLeaseExpires(t *testing.T) {
	url := teamStore(t)
	a, b := twoMachines(t, url)
	for _, m := range []*e2e{a, b} {
		m.setenv("KITARU_LEASE_TTL", "2s")
	}
	flow := a.flow("long.yaml", `name: long
steps:
  first:
    kind: checkpoint
    run: echo x >> @D@/first.count; echo one
  slow:
    kind: checkpoint
    needs: [first]
    run: echo x >> @D@/slow.count; [ -f @D@/go ] || sleep 60; echo two
output: ${{ steps.slow.output }}
`)
	cmd, _, _ := a.startUntil("slow.count", "run", flow)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	a.write("go", "")

	held := b.run("resume", "last")
	if held.Code == 0 || !strings.Contains(held.Stderr, "is being run by process") {
		t.Fatalf("resume on B while A's lease is live:\n%s", held)
	}
	// B's own KITARU_LEASE_TTL says nothing of A's lease: no figure of
	// B's is given as A's.
	if !strings.Contains(held.Stderr, "the time to live its runner took (KITARU_LEASE_TTL there") {
		t.Errorf("the refusal does not say whose lease time counts:\n%s", held.Stderr)
	}
	var done result
	waitFor(t, "the dead runner's lease to expire", func() bool {
		done = b.run("resume", "last", "--quiet")
		return done.Code == 0
	})
	if printedOutput(t, done.Stdout) != "two" {
		t.Errorf("the resumed run printed %q", done.Stdout)
	}
	if a.count("first.count") != 1 || a.count("slow.count") != 2 {
		t.Errorf("first ran %d times, slow %d; want 1 and 2", a.count("first.count"), a.count("slow.count"))
	}
}

// A machine's local runs copied into the shared store read there the same,
// the replay's reused steps included; copying again copies nothing.
func TestE2EPostgresStoreCopy(t *testing.T) {
	url := teamStore(t)
	local := newE2E(t)
	flow := local.flow("ab.yaml", "name: ab\nsteps:\n  a:\n    kind: checkpoint\n    run: echo x >> @D@/a.count; echo one\n  b:\n    kind: checkpoint\n    run: echo \"${{ steps.a.output }} two\"\noutput: ${{ steps.b.output }}\n")
	local.must(0, "run", flow, "--quiet")
	src := local.record("last").ID
	local.must(0, "replay", src, "--from", "b", "--quiet")
	replay := local.record("last")

	out := local.must(0, "store", "copy", "--to", url)
	if !strings.Contains(out.Stdout, "copied 2 runs") {
		t.Errorf("store copy said:\n%s", out)
	}
	team := newE2E(t)
	team.Dir = local.Dir
	team.setenv("KITARU_STORE", url)
	got := team.record(replay.ID)
	if got.Status != engine.RunCompleted || stepOf(t, got, "a").ReusedFrom != src || stepOf(t, got, "b").Output != "one two" {
		t.Errorf("the copied replay reads %s, a reused from %q, b = %v", got.Status, stepOf(t, got, "a").ReusedFrom, stepOf(t, got, "b").Output)
	}
	// The copy replays like the original: a from the first run, b again.
	team.must(0, "replay", replay.ID, "--from", "b", "--quiet")
	if team.count("a.count") != 1 {
		t.Errorf("a ran %d times; want 1", team.count("a.count"))
	}
	again := local.must(0, "store", "copy", "--to", url)
	if !strings.Contains(again.Stdout, "copied 0 runs") || !strings.Contains(again.Stdout, "2 already there") {
		t.Errorf("a second copy said:\n%s", again)
	}
	if r := local.must(2, "store", "copy", "--to", "/tmp/elsewhere"); !strings.Contains(r.Stderr, "postgres://") {
		t.Errorf("copy to a non-URL:\n%s", r)
	}
}

// The database restarted while a run runs: the run rides it out and every
// step runs once.
func TestE2EPostgresRestartDuringARun(t *testing.T) {
	if pgServer == nil {
		teamStore(t) // skips without server binaries
	}
	srv := pgtest.Start(t) // its own: this test stops it
	m := newE2E(t)
	m.setenv("KITARU_STORE", srv.URL())
	flow := m.flow("restart.yaml", `name: restart
steps:
  first:
    kind: checkpoint
    run: echo x >> @D@/first.count; echo one
  gate:
    kind: checkpoint
    needs: [first]
    run: echo x >> @D@/gate.count; while [ ! -f @D@/go ]; do sleep 0.05; done; echo two
  last:
    kind: checkpoint
    needs: [gate]
    run: echo x >> @D@/last.count; echo "${{ steps.gate.output }} three"
output: ${{ steps.last.output }}
`)
	cmd, stdout, stderr := m.startUntil("gate.count", "run", flow, "--quiet")
	// The gate opens while the server is down: its record and the next
	// step's start are written (retried) across the restart.
	srv.Stop(t)
	m.write("go", "")
	time.Sleep(time.Second)
	srv.Restart(t)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the run did not ride out the restart: %v\n%s\n%s", err, stdout, stderr)
	}
	if got := printedOutput(t, stdout.String()); got != "two three" {
		t.Errorf("the run printed %q", got)
	}
	for _, c := range []string{"first.count", "gate.count", "last.count"} {
		if n := m.count(c); n != 1 {
			t.Errorf("%s: %d runs, want 1", c, n)
		}
	}
	if rec := m.record("last"); rec.Status != engine.RunCompleted {
		t.Errorf("the run is %s after the restart, want completed", rec.Status)
	}
}

// The database gone for longer than the store retries: the run stops with
// a sentence that says what to do, and resumes once the server is back,
// each finished step once.
func TestE2EPostgresOutageStopsTheRunThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the store's retry window")
	}
	if pgServer == nil {
		teamStore(t)
	}
	t.Parallel() // its own server; it waits out a 20 s window
	srv := pgtest.Start(t)
	m := newE2E(t)
	m.setenv("KITARU_STORE", srv.URL())
	m.setenv("KITARU_LEASE_TTL", "2s")
	flow := m.flow("outage.yaml", `name: outage
steps:
  first:
    kind: checkpoint
    run: echo x >> @D@/first.count; echo one
  gate:
    kind: checkpoint
    needs: [first]
    run: echo x >> @D@/gate.count; while [ ! -f @D@/go ]; do sleep 0.05; done; echo two
output: ${{ steps.gate.output }}
`)
	cmd, stdout, stderr := m.startUntil("gate.count", "run", flow)
	srv.Stop(t)
	m.write("go", "")
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the run went on without its store:\n%s\n%s", stdout, stderr)
	}
	// Read only after Wait: the process writes stdout until it exits.
	id := announcedID(t, stdout.String())
	if !strings.Contains(stderr.String(), "cannot be reached") || !strings.Contains(stderr.String(), "kitaru resume") {
		t.Errorf("the stop does not say what happened and what to do:\n%s", stderr)
	}
	srv.Restart(t)
	// Its runner gone and its lease run out, the run reads as interrupted.
	waitFor(t, "the stopped run to read as interrupted", func() bool {
		return m.record(id).Status == engine.RunInterrupted
	})
	var done result
	waitFor(t, "the stopped run's lease to run out", func() bool {
		done = m.run("resume", id, "--quiet")
		return done.Code == 0
	})
	if printedOutput(t, done.Stdout) != "two" {
		t.Errorf("resumed run printed %q", done.Stdout)
	}
	if m.count("first.count") != 1 {
		t.Errorf("first ran %d times; want 1", m.count("first.count"))
	}
}

// Machine B follows a run of machine A while it runs: `logs --follow`
// prints a step's line before the run ends and stops with it, and B's web
// UI streams the run's events live.
func TestE2EPostgresFollowAcrossMachines(t *testing.T) {
	url := teamStore(t)
	a, b := twoMachines(t, url)
	flow := a.flow("follow.yaml", `name: follow
steps:
  first:
    kind: checkpoint
    run: echo first line; echo x >> @D@/first.count
  gate:
    kind: checkpoint
    needs: [first]
    run: echo x >> @D@/gate.count; while [ ! -f @D@/go ]; do sleep 0.02; done; echo gate opened
`)
	cmd, _, _ := a.startUntil("gate.count", "run", flow, "--quiet")
	id := b.record("last").ID

	lines := func(c *exec.Cmd) <-chan string {
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		ch := make(chan string, 100)
		go func() {
			defer close(ch)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				ch <- sc.Text()
			}
		}()
		return ch
	}
	until := func(ch <-chan string, what string, want ...string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-ch:
				if !ok {
					t.Fatalf("%s ended before %q", what, want)
				}
				all := true
				for _, w := range want {
					all = all && strings.Contains(l, w)
				}
				if all {
					return
				}
			case <-deadline:
				t.Fatalf("%s did not show a line with %q in 30 s", what, want)
			}
		}
	}

	follow := b.command("executions", "logs", id, "--follow")
	followed := lines(follow)
	until(followed, "logs --follow on B", "first line")

	ui := b.command("ui", "--addr", "127.0.0.1:0")
	printed := lines(ui)
	var base, token string
	select {
	case l := <-printed:
		base, token, _ = strings.Cut(strings.TrimSpace(l), "/?token=")
	case <-time.After(30 * time.Second):
		t.Fatal("kitaru ui on B printed no address")
	}
	req, _ := http.NewRequest("GET", base+"/api/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("B's event stream of A's run: %s", res.Status)
	}
	stream := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			stream <- sc.Text()
		}
		close(stream)
	}()
	// What happened so far, then the gate finishing once it is opened.
	until(stream, "B's event stream", `"step_finished"`, `"first"`)
	a.write("go", "")
	until(stream, "B's event stream", `"step_finished"`, `"gate"`)
	until(followed, "logs --follow on B", "gate opened")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("A's run failed: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs --follow on B ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("logs --follow on B did not end with the run")
	}
}

// The commands around runs work across machines as on one: B retries,
// diffs, deletes, cancels and prunes what A ran.
func TestE2EPostgresCommandsAcrossMachines(t *testing.T) {
	url := teamStore(t)
	a, b := twoMachines(t, url)
	flaky := a.flow("flaky.yaml", `name: flaky
steps:
  prep:
    kind: checkpoint
    run: echo x >> @D@/prep.count; echo prepared
  ship:
    kind: checkpoint
    needs: [prep]
    run: echo x >> @D@/ship.count; test -f @D@/fixed && echo shipped
output: ${{ steps.ship.output }}
`)
	failed := announcedID(t, a.must(1, "run", flaky, "--quiet").Stdout)
	a.write("fixed", "")
	if r := b.must(0, "retry", failed, "--quiet"); printedOutput(t, r.Stdout) != "shipped" {
		t.Errorf("B's retry of A's failed run printed %q", r.Stdout)
	}
	if a.count("prep.count") != 1 || a.count("ship.count") != 2 {
		t.Errorf("after the retry prep ran %d times, ship %d; want 1 and 2", a.count("prep.count"), a.count("ship.count"))
	}

	replay := announcedID(t, a.must(0, "replay", failed, "--from", "ship", "--quiet").Stdout)
	if d := b.must(0, "executions", "diff", failed, replay); !strings.Contains(d.Stdout, "ship") {
		t.Errorf("B's diff of A's run and its replay:\n%s", d)
	}
	if r := b.must(2, "executions", "delete", failed); !strings.Contains(r.Stderr, replay) {
		t.Errorf("B's delete of a run a replay reuses does not name the replay:\n%s", r.Stderr)
	}

	gated := a.flow("gated.yaml", `name: gated
steps:
  wait:
    kind: checkpoint
    run: echo x >> @D@/gate.count; while [ ! -f @D@/go ]; do sleep 0.05; done
`)
	cmd, _, _ := a.startUntil("gate.count", "run", gated, "--quiet")
	running := b.record("last").ID
	b.must(0, "executions", "cancel", running)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitRunFailed {
		t.Errorf("A's run cancelled from B exited %d, want %d", code, ExitRunFailed)
	}
	if st := a.record(running).Status; st != engine.RunCancelled {
		t.Errorf("A reads its run cancelled from B as %s", st)
	}

	time.Sleep(20 * time.Millisecond)
	if r := b.must(0, "executions", "prune", "--older-than", "1ms"); !strings.Contains(r.Stdout, "3 runs deleted") {
		t.Errorf("B's prune of A's three runs:\n%s", r.Stdout)
	}
	if l := a.must(0, "executions", "list"); !strings.Contains(l.Stdout, "no runs yet") {
		t.Errorf("A's list after B's prune:\n%s", l.Stdout)
	}
}

// On a shared store too, the machine that ran a step notes its process
// group (in its data directory): after kill -9, a resume there stops what
// the killed kitaru left running before it runs the step again.
func TestE2EPostgresResumeStopsWhatAKilledRunLeftRunning(t *testing.T) {
	url := teamStore(t)
	e := newE2E(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the orphaned processes")
	}
	e.setenv("KITARU_STORE", url)
	e.setenv("KITARU_LEASE_TTL", "1s")
	flow := e.flow("orphan.yaml", `name: orphan
steps:
  beat:
    kind: checkpoint
    run: |
      if [ ! -f @D@/first.pgid ]; then
        echo $$ > @D@/first.pgid
        while :; do echo x >> @D@/beats; sleep 0.02; done
      fi
      echo done
output: ${{ steps.beat.output }}
`)
	pgid := e.orphanAfterKill(flow)
	var r result
	waitFor(t, "the killed runner's lease to run out", func() bool {
		r = e.run("resume", "last")
		return r.Code == 0
	})
	want := fmt.Sprintf("stopped what was left running of its previous attempt (process group %d", pgid)
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("resume does not say it stopped the orphan (%q):\n%s", want, r.Stderr)
	}
	e.wantOrphanStopped(pgid, "stopped what was left running of its previous attempt before running it again")
}

// A store whose schema was altered by hand is named with what it lacks
// and what to do, before any command touches a run.
func TestE2EPostgresDamagedSchemaSaysWhatToDo(t *testing.T) {
	teamStore(t) // the shared server, or skip
	name := fmt.Sprintf("e2edamaged_%d", pgDBs.Add(1))
	url := pgServer.DatabaseURL(t, name)
	m := newE2E(t)
	m.setenv("KITARU_STORE", url)
	m.must(0, "executions", "list") // makes the schema
	pgServer.SQL(t, name, "DROP TABLE kitaru.steps")
	r := m.run("executions", "list")
	for _, want := range []string{"schema kitaru lacks steps", "restore schema kitaru from a backup", "DROP SCHEMA kitaru CASCADE"} {
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("a store without its steps table: %q missing:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "SQLSTATE") {
		t.Errorf("the driver's words reach the user:\n%s", r.Stderr)
	}
}

// The cache of answers goes along with a store copy: a run on the shared
// store asks the model nothing a local run had asked.
func TestE2EPostgresStoreCopyTakesTheCache(t *testing.T) {
	url := teamStore(t)
	e, srv := newLLME2E(t)
	e.setenv("OPENAI_API_KEY", testAPIKey)
	flow := e.flow("cached.yaml", cachedFlow)
	sent := func() int { r, _ := srv.snapshot(); return len(r) }
	e.must(0, "run", flow, "--quiet")
	if sent() != 2 {
		t.Fatalf("the local run sent %d requests, want 2", sent())
	}
	out := e.must(0, "store", "copy", "--to", url)
	if !strings.Contains(out.Stdout, "copied 1 run") || !strings.Contains(out.Stdout, "copied 2 cached answers") {
		t.Errorf("store copy said:\n%s", out)
	}
	e.setenv("KITARU_STORE", url)
	e.must(0, "run", flow, "--quiet")
	if sent() != 2 {
		t.Errorf("the run on the shared store sent %d requests, want none (the copied cache)", sent()-2)
	}
	e.setenv("KITARU_STORE", "")
	again := e.must(0, "store", "copy", "--to", url, "--json")
	if !strings.Contains(again.Stdout, `"cached": 0`) {
		t.Errorf("a second copy copied answers again:\n%s", again)
	}
}
