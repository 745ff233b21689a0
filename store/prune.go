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

	// DMARCReports and DMARCRecords count the DMARC aggregate reports
	// and their records, pruned by the same rule.
	DMARCReports int64
	DMARCRecords int64
}

// PrunePlan counts the reports whose range ended before before, with their
// policies and failure details, and the DMARC reports whose range ended
// before before, with their records, without removing anything.
func (s *Store) PrunePlan(ctx context.Context, before time.Time) (Pruned, error) {
	p, err := countPrunable(ctx, s.db, before)
	if err != nil {
		return Pruned{}, pkgerr.Errorf("store", "counting reports ended before %s: %w", before.Format(time.DateOnly), s.classify(err))
	}
	return p, nil
}

// Prune removes the reports whose range ended before before, with their
// policies and failure details, and the DMARC reports whose range ended
// before before, with their records, in one transaction, and brings the
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
		// Records go with their report (ON DELETE CASCADE).
		if _, err := tx.ExecContext(ctx, `DELETE FROM dmarc_reports WHERE end_time < ?`, before.Unix()); err != nil {
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
	if _, err := s.db.ExecContext(ctx, s.dialect.vacuum()); err != nil {
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
	n, err := s.dialect.size(ctx, s.db)
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
		(SELECT COUNT(*) FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time < ?),
		(SELECT COUNT(*) FROM dmarc_reports WHERE end_time < ?),
		(SELECT COUNT(*) FROM dmarc_records c JOIN dmarc_reports r ON r.id = c.report_id WHERE r.end_time < ?)`,
		before.Unix(), before.Unix(), before.Unix(), before.Unix(), before.Unix()).Scan(
		&p.Reports, &p.Policies, &p.Details, &p.DMARCReports, &p.DMARCRecords)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	return p, err
}
