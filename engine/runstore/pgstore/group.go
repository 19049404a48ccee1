package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// The journal's contract lets a run's events be durable only once its
// lease is released. A run leased through this Store therefore keeps its
// events here and sends them with the run's next record (one statement,
// one commit for both) or, when no record comes soon, on their own once
// the first of them has waited defaultGroupDelay, so a follower elsewhere
// still sees them promptly. A
// run not leased here (an answer given from another command) writes at
// once.
const defaultGroupDelay = 10 * time.Millisecond

// pending is a leased run's events not sent yet.
type pending struct {
	// mu is held across a send, so the run's events reach the server in
	// the order they were appended.
	mu    sync.Mutex
	recs  [][]byte
	batch []byte // the token of recs, kept until they are sent
	// uncertain: a send of this batch failed in a way that may have
	// committed, so the next checks before sending again.
	uncertain bool
	since     time.Time // when the first of recs was held
	timer     *time.Timer
	armed     bool // timer is set to fire
	// token is the lease's: the run's writes from here carry it, so a
	// runner whose lease another took over writes nothing more.
	token string
}

// grouped is the pending events of run id, nil when it is not leased here.
func (s *Store) grouped(id string) *pending {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	return s.groups[id]
}

func (s *Store) startGroup(id, token string) {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	if s.groups == nil {
		s.groups = map[string]*pending{}
	}
	if s.groups[id] == nil {
		s.groups[id] = &pending{}
	}
	s.groups[id].token = token
}

// leaseToken is the token a write to run id must find on the run: this
// Store's lease of it, nil when it holds none (the write is not fenced).
func (s *Store) leaseToken(id string) *string {
	_, t := s.groupOf(id)
	return t
}

// groupOf is grouped and leaseToken at once.
func (s *Store) groupOf(id string) (*pending, *string) {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	p := s.groups[id]
	if p == nil {
		return nil, nil
	}
	t := p.token
	return p, &t
}

// endGroup sends what is pending for run id and stops grouping it.
func (s *Store) endGroup(ctx context.Context, id string) error {
	p := s.grouped(id)
	if p == nil {
		return nil
	}
	err := s.flush(ctx, id, p)
	s.groupMu.Lock()
	if err == nil && s.groups[id] == p {
		delete(s.groups, id)
	}
	s.groupMu.Unlock()
	return err
}

// dropGroup forgets what is pending for run id: the run is gone.
func (s *Store) dropGroup(id string) {
	s.groupMu.Lock()
	p := s.groups[id]
	delete(s.groups, id)
	s.groupMu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.recs = nil
		if p.timer != nil {
			p.timer.Stop()
		}
		p.mu.Unlock()
	}
}

// hold keeps recs to send later.
func (s *Store) hold(id string, p *pending, recs [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		p.batch = make([]byte, 16)
		_, _ = rand.Read(p.batch)
		p.uncertain = false
		p.since = time.Now()
	}
	p.recs = append(p.recs, recs...)
	// Set once, not reset at every append or send (a few microseconds of
	// a step each): when it fires, due looks at what is held then.
	if !p.armed {
		p.armed = true
		if p.timer == nil {
			p.timer = time.AfterFunc(s.groupDelay, func() { s.due(id, p) })
		} else {
			p.timer.Reset(s.groupDelay)
		}
	}
}

// due sends p's events on their own once the first of them has been held
// for groupDelay, or waits on for the ones held since the last send.
func (s *Store) due(id string, p *pending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if len(p.recs) == 0 {
		return
	}
	if wait := s.groupDelay - time.Since(p.since); wait > 0 {
		p.armed = true
		p.timer.Reset(wait)
		return
	}
	_ = s.flushHeld(context.Background(), id, p)
}

// flush sends p's events on their own. A failure keeps them for the next
// try: the run's next record, its release, or Close.
func (s *Store) flush(ctx context.Context, id string, p *pending) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.flushHeld(ctx, id, p)
}

// flushHeld is flush with p.mu held.
func (s *Store) flushHeld(ctx context.Context, id string, p *pending) error {
	if len(p.recs) == 0 {
		return nil
	}
	err := s.do(ctx, "recording events of run "+id, func(ctx context.Context, retry bool) error {
		err := s.appendAttempt(ctx, id, eventsJournal, p.recs, p.batch, retry || p.uncertain, &p.token)
		if err != nil && !own(err) {
			p.uncertain = true
		}
		return err
	})
	if err == nil {
		p.recs = nil
	}
	return err
}

// recordSQL is a record's write in its two forms: alone, and after the
// run's pending events in the same statement (one round trip, one
// commit, one statement's work on the server). Either form writes
// nothing, and affects no row, when the run is not there or its lease is
// no longer the token's; the second also when the events cannot be
// numbered, so that the record and its events go in together or not.
type recordSQL struct{ alone, withEvents string }

// insertRecord is a record written by insert, an INSERT ... SELECT of n
// parameters ($1 the run) that conflict ends. The lease token is
// parameter n+1, then (withEvents) the events and their batch token.
func insertRecord(insert string, n int, conflict string) recordSQL {
	return recordSQL{
		alone:      insert + ofRun(n+1) + " " + conflict,
		withEvents: eventsBefore(n+1) + insert + " FROM s " + conflict,
	}
}

// eventsBefore is the WITH clause of a record's write that appends the
// events $token+1 (batch token $token+2) first: the write selects FROM s,
// one row once they are numbered, none when they are not.
func eventsBefore(token int) string {
	return "WITH " + eventsJournal.countSQL(token+1, token) + ", e AS (" + eventsJournal.insertSQL(token+1, token+2) + ") "
}

// record writes one record of run id (args are its parameters before the
// lease token), with the run's pending events in the same statement.
func (s *Store) record(ctx context.Context, op, id string, w recordSQL, args ...any) error {
	p, token := s.groupOf(id)
	if p == nil {
		return s.exec1(ctx, op, id, nil, w.alone, append(args, nil)...)
	}
	args = append(args, token)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		return s.exec1(ctx, op, id, token, w.alone, args...)
	}
	err := s.do(ctx, op, func(ctx context.Context, retry bool) error {
		err := s.recordAttempt(ctx, id, p, retry || p.uncertain, w, args, token)
		if err != nil && !own(err) {
			p.uncertain = true
		}
		return err
	})
	if err == nil {
		p.recs = nil // the timer, left set, finds nothing to send
	}
	return err
}

// recordAttempt sends the events and the record in one statement: both
// or neither.
func (s *Store) recordAttempt(ctx context.Context, id string, p *pending, check bool, w recordSQL, args []any, token *string) error {
	if check {
		var done bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE run_id = $1 AND batch = $2)`, id, p.batch).Scan(&done); err != nil {
			return err
		}
		if done {
			// The events went in with an earlier attempt, and the record
			// with them; writing it again is a plain replacement.
			return s.execOnce(ctx, id, token, w.alone, args)
		}
	}
	return s.execOnce(ctx, id, token, w.withEvents, append(args[:len(args):len(args)], pgtype.FlatArray[[]byte](p.recs), p.batch))
}

// execOnce is one attempt of exec1's statement.
func (s *Store) execOnce(ctx context.Context, id string, token *string, sql string, args []any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return s.missing(ctx, id, token)
	}
	if isCode(err, "23503") { // a record of a run that is not there
		return notFound(id)
	}
	return err
}

// flushAll sends every leased run's pending events: the store is closing.
func (s *Store) flushAll(ctx context.Context) {
	s.groupMu.Lock()
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	s.groupMu.Unlock()
	for _, id := range ids {
		_ = s.endGroup(ctx, id)
	}
}

// missing tells why a write of run id found nothing to write to: the
// run is not there; or, for a write fenced by lease token (not nil), its
// lease is no longer that; or its journal's counters are gone, a damaged
// run (a write with events numbers them).
func (s *Store) missing(ctx context.Context, id string, token *string) error {
	var run, ours, counters bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1),
			EXISTS (SELECT 1 FROM runs WHERE id = $1 AND ($2::text IS NULL OR lease_token = $2)),
			EXISTS (SELECT 1 FROM run_seqs WHERE run_id = $1)`, id, token).Scan(&run, &ours, &counters)
	switch {
	case err != nil:
		return err
	case !run:
		return notFound(id)
	case !ours:
		return leaseLost(id)
	case !counters:
		return damaged(id, runstore.PartJournal, "", 0, errNoCounters)
	}
	// Everything is there now: the run was written between (a lease
	// taken over and given back to none, a run deleted and made again).
	if token != nil {
		return leaseLost(id)
	}
	return notFound(id)
}

// errNoCounters is a run whose row in run_seqs is gone: dropped by hand,
// or a restore of part of the database.
var errNoCounters = errors.New("its row in run_seqs is missing")
