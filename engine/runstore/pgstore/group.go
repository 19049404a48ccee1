package pgstore

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The journal's contract lets a run's events be durable only once its
// lease is released. A run leased through this Store therefore keeps its
// events here and sends them with the run's next record (one round trip,
// one commit for both) or, when no record comes soon, on their own after
// defaultGroupDelay, so a follower elsewhere still sees them promptly. A
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
	timer     *time.Timer
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
	if p := s.grouped(id); p != nil {
		t := p.token
		return &t
	}
	return nil
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
	}
	p.recs = append(p.recs, recs...)
	if p.timer == nil {
		p.timer = time.AfterFunc(s.groupDelay, func() { _ = s.flush(context.Background(), id, p) })
	} else {
		p.timer.Reset(s.groupDelay)
	}
}

// flush sends p's events on their own. A failure keeps them for the next
// try: the run's next record, its release, or Close.
func (s *Store) flush(ctx context.Context, id string, p *pending) error {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// record writes one record of run id (one statement affecting a row),
// with the run's pending events in the same commit.
func (s *Store) record(ctx context.Context, op, id, sql string, args ...any) error {
	p := s.grouped(id)
	if p == nil {
		return s.exec1(ctx, op, id, sql, args...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		return s.exec1(ctx, op, id, sql, args...)
	}
	err := s.do(ctx, op, func(ctx context.Context, retry bool) error {
		err := s.recordAttempt(ctx, id, p, retry || p.uncertain, sql, args)
		if err != nil && !own(err) {
			p.uncertain = true
		}
		return err
	})
	if err == nil {
		p.recs = nil
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	return err
}

// recordAttempt sends the record and the events as one batch, which the
// server runs as one implicit transaction: both or neither.
func (s *Store) recordAttempt(ctx context.Context, id string, p *pending, check bool, sql string, args []any) error {
	if check {
		var done bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE run_id = $1 AND batch = $2)`, id, p.batch).Scan(&done); err != nil {
			return err
		}
		if done {
			// The events went in with an earlier attempt, and the record
			// with them; writing it again is a plain replacement.
			return s.execOnce(ctx, id, sql, args)
		}
	}
	b := &pgx.Batch{}
	b.Queue(eventsJournal.appendSQL(), id, p.recs, p.batch, &p.token)
	b.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, b)
	tagEvents, err := br.Exec()
	missing := err == nil && tagEvents.RowsAffected() == 0
	if err == nil && !missing {
		var tag interface{ RowsAffected() int64 }
		tag, err = br.Exec()
		missing = err == nil && tag.RowsAffected() == 0
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && missing {
		return s.missing(ctx, id)
	}
	return err
}

// execOnce is one attempt of exec1's statement.
func (s *Store) execOnce(ctx context.Context, id, sql string, args []any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return s.missing(ctx, id)
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

// missing tells why a write of run id found nothing to write to: the run
// is not there, or (a fenced write) this Store's lease of it is gone.
func (s *Store) missing(ctx context.Context, id string) error {
	if s.leaseToken(id) != nil {
		if ok, err := s.existsOnce(ctx, id); err != nil {
			return err
		} else if ok {
			return leaseLost(id)
		}
	}
	return notFound(id)
}
