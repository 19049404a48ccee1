package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

// live is the SQL of a run row whose lease is held and not expired by
// the server's clock: the clocks of the machines sharing the store are
// never compared.
const live = `lease_token IS NOT NULL AND (lease_expires IS NULL OR lease_expires > now())`

// Acquire takes the lease of a run whose lease is free or expired. A
// lease of the same token is the caller's own, taken by an attempt whose
// answer was lost: a retry takes it again.
func (s *Store) Acquire(ctx context.Context, id string, holder runstore.Holder, ttl time.Duration) (*runstore.Lease, error) {
	l := &runstore.Lease{RunID: id, Holder: holder, Token: newToken(), TTL: ttl}
	err := s.do(ctx, "leasing run "+id, func(ctx context.Context, _ bool) error {
		for {
			var exp *time.Time
			err := s.pool.QueryRow(ctx, `UPDATE runs SET lease_token = $2, lease_host = $3, lease_pid = $4, lease_ttl_us = $5,
					lease_expires = `+expiry(5)+`, cancel_seen = cancel
				WHERE id = $1 AND (lease_token = $2 OR NOT (`+live+`))
				RETURNING lease_expires`, id, l.Token, holder.Host, holder.PID, ttl.Microseconds()).Scan(&exp)
			if err == nil {
				setExpires(l, exp)
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			h, err := s.holder(ctx, id)
			if err != nil {
				return err
			}
			if h != nil {
				return &runstore.HeldError{RunID: id, Holder: *h}
			}
			// Released between the two: try again.
		}
	})
	if err != nil {
		return nil, err
	}
	s.startGroup(id, l.Token)
	return l, nil
}

// holder is who holds run id's lease now; an error wrapping ErrNotFound
// when there is no such run.
func (s *Store) holder(ctx context.Context, id string) (*runstore.Holder, error) {
	var held bool
	var h runstore.Holder
	err := s.pool.QueryRow(ctx, `SELECT `+live+`, lease_host, lease_pid FROM runs WHERE id = $1`, id).Scan(&held, &h.Host, &h.PID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil || !held {
		return nil, err
	}
	return &h, nil
}

// Renew extends a live lease by its ttl from the server's now.
func (s *Store) Renew(ctx context.Context, l *runstore.Lease) error {
	return s.do(ctx, "renewing the lease of run "+l.RunID, func(ctx context.Context, _ bool) error {
		var exp *time.Time
		err := s.pool.QueryRow(ctx, `UPDATE runs SET lease_expires = `+expiry(3)+`
			WHERE id = $1 AND lease_token = $2 AND `+live+` RETURNING lease_expires`, l.RunID, l.Token, l.TTL.Microseconds()).Scan(&exp)
		if errors.Is(err, pgx.ErrNoRows) {
			return leaseLost(l.RunID)
		}
		if err == nil {
			setExpires(l, exp)
		}
		return err
	})
}

// Release gives the lease up, if it is still the run's.
func (s *Store) Release(ctx context.Context, l *runstore.Lease) error {
	if l == nil {
		return nil
	}
	// The run's events are durable once its lease is released.
	ferr := s.endGroup(ctx, l.RunID)
	err := s.do(ctx, "releasing the lease of run "+l.RunID, func(ctx context.Context, _ bool) error {
		_, err := s.pool.Exec(ctx, `UPDATE runs SET lease_token = NULL, lease_expires = NULL WHERE id = $1 AND lease_token = $2`, l.RunID, l.Token)
		return err
	})
	return errors.Join(ferr, err)
}

// Holder tells who holds a live lease on the run (nil: nobody, or no
// such run).
func (s *Store) Holder(ctx context.Context, id string) (*runstore.Holder, error) {
	var h *runstore.Holder
	err := s.do(ctx, "reading the lease of run "+id, func(ctx context.Context, _ bool) error {
		var err error
		h, err = s.holder(ctx, id)
		if errors.Is(err, runstore.ErrNotFound) {
			h, err = nil, nil
		}
		return err
	})
	return h, err
}

// RequestCancel counts one more request on the run; a lease sees those
// counted after it was taken (cancel above the cancel_seen it set).
// Counting one twice, on a retry, asks the same.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	return s.exec1(ctx, "asking run "+id+" to stop", id, nil, `UPDATE runs SET cancel = cancel + 1 WHERE id = $1`, id)
}

// CancelRequested tells whether a cancel was asked since l was taken.
func (s *Store) CancelRequested(ctx context.Context, l *runstore.Lease) (bool, error) {
	var asked, ours bool
	err := s.readRow(ctx, "reading the cancel requests of run "+l.RunID, l.RunID,
		`SELECT cancel > cancel_seen, lease_token IS NOT DISTINCT FROM $2 FROM runs WHERE id = $1`, []any{l.RunID, l.Token}, &asked, &ours)
	if err != nil {
		return false, err
	}
	if !ours {
		return false, leaseLost(l.RunID)
	}
	return asked, nil
}

// ClearCancel forgets the requests.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	return s.exec1(ctx, "clearing the cancel requests of run "+id, id, nil, `UPDATE runs SET cancel = 0, cancel_seen = 0 WHERE id = $1`, id)
}

// exec1 runs a statement that changes run id's row, or one of its
// records, fenced by lease token (nil: not fenced): none changed is run
// id not found, or the lease lost.
func (s *Store) exec1(ctx context.Context, op, id string, token *string, sql string, args ...any) error {
	return s.do(ctx, op, func(ctx context.Context, _ bool) error {
		return s.execOnce(ctx, id, token, sql, args)
	})
}
