package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// copyKey names one copy of a report the way the store deduplicates it,
// for either kind of report.
type copyKey struct {
	table    string // "reports" or "dmarc_reports": a constant, never input
	reporter string // who sent it (reporterOf)
	org      string // the organisation the report names
	reportID string
	digest   string // of its content
}

// storedCopy is a stored report found by sameContent.
type storedCopy struct {
	id     int64
	authed bool
}

// addOnce keeps AddReport's rules for the copies of one report, in
// either table: the first copy of a report is kept and later ones are
// duplicates, word-for-word copies are one report whoever sent them, and
// an authenticated copy replaces the same reporter's unauthenticated
// copy and every unauthenticated word-for-word copy. insert stores the
// copy and returns its key; the table's ON DELETE CASCADE takes the
// rows of a replaced copy.
func addOnce(ctx context.Context, tx *sql.Tx, k copyKey, authed bool, insert func() (int64, error)) (int64, arrival.Added, error) {
	var (
		id       int64
		idAuthed bool
	)
	err := tx.QueryRowContext(ctx,
		`SELECT id, auth_authenticated FROM `+k.table+` WHERE reporter = ? AND org = ? AND report_id = ?`,
		k.reporter, k.org, k.reportID).Scan(&id, &idAuthed)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, arrival.New, err
	}
	if found && (idAuthed || !authed) {
		return id, arrival.Duplicate, nil
	}
	copies, err := sameContent(ctx, tx, k)
	if err != nil {
		return 0, arrival.New, err
	}
	if !authed { // and not found
		if len(copies) > 0 {
			return copies[0].id, arrival.Duplicate, nil
		}
		id, err := insert()
		return id, arrival.New, err
	}
	var drop []int64
	if found {
		drop = append(drop, id)
	}
	for _, c := range copies {
		if !c.authed && c.id != id {
			drop = append(drop, c.id)
		}
	}
	for _, d := range drop {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+k.table+` WHERE id = ?`, d); err != nil {
			return 0, arrival.New, err
		}
	}
	id, err = insert()
	if len(drop) > 0 {
		return id, arrival.Upgraded, err
	}
	return id, arrival.New, err
}

// sameContent lists the stored reports with the content of k (its
// organisation, report id and digest), whoever sent them, authenticated
// ones first.
func sameContent(ctx context.Context, tx *sql.Tx, k copyKey) ([]storedCopy, error) {
	return queryAll(ctx, tx, scanCopy, `SELECT id, auth_authenticated FROM `+k.table+`
		WHERE org = ? AND report_id = ? AND digest = ? ORDER BY auth_authenticated DESC, id`,
		k.org, k.reportID, k.digest)
}

// scanCopy reads a stored copy of sameContent.
func scanCopy(rows *sql.Rows) (c storedCopy, err error) {
	err = rows.Scan(&c.id, &c.authed)
	return c, err
}
