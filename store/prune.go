package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Pruned counts what Prune removes, or would remove.
type Pruned struct {
	Before   time.Time // reports whose range ended before this
	Reports  int64
	Policies int64
	Details  int64
}

// PrunePlan counts the reports whose range ended before before, with their
// policies and failure details, without removing anything.
func (s *Store) PrunePlan(ctx context.Context, before time.Time) (Pruned, error) {
	p, err := countPrunable(ctx, s.db, before)
	if err != nil {
		return Pruned{}, pkgerr.Errorf("store", "counting reports ended before %s: %w", before.Format(time.DateOnly), s.classify(err))
	}
	return p, nil
}

// Prune removes the reports whose range ended before before, with their
// policies and failure details, in one transaction, and brings the
// per-address aggregate up to date. The audit log and the DNS cache are
// kept. It never runs by itself: the filter and serve do not prune.
func (s *Store) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = countPrunable(ctx, tx, before); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE end_time < ?`, before.Unix()); err != nil {
			return err
		}
		return refreshStale(ctx, tx)
	})
	if err != nil {
		return Pruned{}, pkgerr.Errorf("store", "removing reports ended before %s: %w", before.Format(time.DateOnly), err)
	}
	return p, nil
}

// Vacuum gives the space of removed rows back to the file system (SQLite's
// VACUUM rewrites the file; PostgreSQL's makes the space reusable and
// refreshes the planner's statistics). It needs room for a copy of the
// database while it runs.
func (s *Store) Vacuum(ctx context.Context) error {
	q := "VACUUM"
	if s.engine == PostgreSQL {
		q = "VACUUM ANALYZE"
	}
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		if isBusy(err) {
			return pkgerr.Errorf("store", "vacuuming %s: %w", s.path, busyError(0, 1, err))
		}
		return pkgerr.Errorf("store", "vacuuming %s: %w", s.path, s.classify(err))
	}
	return nil
}

// Size returns the bytes the database takes: the SQLite file with its
// write-ahead log, or PostgreSQL's pg_database_size.
func (s *Store) Size(ctx context.Context) (int64, error) {
	var n int64
	var err error
	if s.engine == PostgreSQL {
		err = s.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	} else {
		var pages, size int64
		if err = s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err == nil {
			err = s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size)
		}
		n = pages * size
	}
	if err != nil {
		return 0, pkgerr.Errorf("store", "measuring %s: %w", s.path, err)
	}
	return n, nil
}

// countPrunable counts what a prune before before removes.
func countPrunable(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, before time.Time) (Pruned, error) {
	p := Pruned{Before: before}
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM reports WHERE end_time < ?),
		(SELECT COUNT(*) FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time < ?),
		(SELECT COUNT(*) FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time < ?)`,
		before.Unix(), before.Unix(), before.Unix()).Scan(&p.Reports, &p.Policies, &p.Details)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	return p, err
}
