package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotEmpty is returned by Copy when the destination already holds
// reports or audit log entries: Copy fills a new store, it does not merge.
var ErrNotEmpty = errors.New("store: destination database is not empty")

// copied are the tables Copy copies, parents before children. The
// per-address aggregate is not copied: Copy rebuilds it on the
// destination, whose engine may lay it out otherwise.
var copied = []string{"reports", "policies", "failure_details", "actions", "dns_cache"}

// copyBatch is how many rows go into one INSERT: few statements, and far
// below both engines' limits on parameters.
const copyBatch = 200

// Counts is how many rows a table holds, by table.
type Counts map[string]int64

// Copy copies every report with its policies and failure details, the audit
// log and the DNS cache from src into dst (for `tlsrpt migrate-db`, from
// SQLite to PostgreSQL), in one transaction of dst, keeping every row's key
// and every column, then rebuilds dst's per-address aggregate and checks
// that dst holds as many rows of each table as src. dst must hold no report
// and no audit log entry yet.
func Copy(ctx context.Context, dst, src *Store) (Counts, error) {
	counts, err := copyStores(ctx, dst, src)
	if err != nil {
		return nil, fmt.Errorf("store: copying %s to %s: %w", src.path, dst.path, err)
	}
	return counts, nil
}

func copyStores(ctx context.Context, dst, src *Store) (Counts, error) {
	before, err := dst.Count(ctx)
	if err != nil {
		return nil, err
	}
	if before["reports"] > 0 || before["actions"] > 0 {
		return nil, &kindError{kind: ErrNotEmpty, text: fmt.Sprintf(
			"the destination holds %d reports and %d audit log entries: copy into a new database", before["reports"], before["actions"])}
	}
	want, err := src.Count(ctx)
	if err != nil {
		return nil, err
	}
	err = dst.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM dns_cache"); err != nil {
			return err
		}
		for _, table := range copied {
			if err := copyTable(ctx, tx, src, table); err != nil {
				return fmt.Errorf("table %s: %w", table, err)
			}
		}
		if dst.engine == PostgreSQL {
			if err := resetSequences(ctx, tx); err != nil {
				return err
			}
		}
		return buildAggregate(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	got, err := dst.Count(ctx)
	if err != nil {
		return nil, err
	}
	for _, table := range copied {
		if got[table] != want[table] {
			return got, fmt.Errorf("table %s: %d rows copied, the source holds %d", table, got[table], want[table])
		}
	}
	return got, nil
}

// Count counts the rows of the tables Copy copies.
func (s *Store) Count(ctx context.Context) (Counts, error) {
	c := Counts{}
	for _, table := range copied {
		var n int64
		// table is one of our own names, never input.
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: counting %s of %s: %w", table, s.path, s.classify(err))
		}
		c[table] = n
	}
	return c, nil
}

// copyTable copies one table from src into tx, in key order, in batches.
func copyTable(ctx context.Context, tx *sql.Tx, src *Store, table string) error {
	cols, err := columns(ctx, src.db, table)
	if err != nil {
		return err
	}
	order := "id"
	if table == "dns_cache" {
		order = "key"
	}
	rows, err := src.db.QueryContext(ctx, "SELECT "+strings.Join(names(cols), ", ")+" FROM "+table+" ORDER BY "+order)
	if err != nil {
		return err
	}
	defer rows.Close()
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n := len(batch) / len(cols)
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		q := "INSERT INTO " + table + " (" + strings.Join(names(cols), ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		_, err := tx.ExecContext(ctx, q, batch...)
		batch = batch[:0]
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			batch = append(batch, portable(v, cols[i].blob))
		}
		if len(batch) >= copyBatch*len(cols) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// column is a column of a copied table.
type column struct {
	name string
	blob bool
}

// columns lists a table's columns as the source has them.
func columns(ctx context.Context, db *sql.DB, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var cols []column
	for _, t := range types {
		kind := strings.ToUpper(t.DatabaseTypeName())
		cols = append(cols, column{name: t.Name(), blob: kind == "BLOB" || kind == "BYTEA"})
	}
	return cols, nil
}

func names(cols []column) []string {
	var l []string
	for _, c := range cols {
		l = append(l, c.name)
	}
	return slices.Clip(l)
}

// portable converts a scanned value for the other engine: SQLite's driver
// may return text as bytes, which PostgreSQL would take for bytea.
func portable(v any, blob bool) any {
	if b, ok := v.([]byte); ok && !blob {
		return string(b)
	}
	if b, ok := v.([]byte); ok {
		return slices.Clone(b)
	}
	return v
}

// resetSequences moves PostgreSQL's identity sequences past the copied
// keys.
func resetSequences(ctx context.Context, tx *sql.Tx) error {
	for _, table := range []string{"reports", "policies", "failure_details", "actions"} {
		// table is one of our own names, never input.
		q := "SELECT setval(pg_get_serial_sequence('" + table + "', 'id'), COALESCE((SELECT MAX(id) FROM " + table + "), 0) + 1, false)"
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("resetting the key sequence of %s: %w", table, err)
		}
	}
	return nil
}
