package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/report"
)

// ErrNotEmpty is returned by Copy when the destination already holds
// reports or audit log entries: Copy fills a new store, it does not merge.
var ErrNotEmpty = pkgerr.New("store", "destination database is not empty")

// copied are the tables Copy copies, parents before children. The
// per-address aggregate is not copied: Copy rebuilds it on the
// destination, whose engine may lay it out otherwise.
var copied = []string{"reports", "policies", "failure_details", "actions", "dns_cache", "dmarc_reports", "dmarc_records"}

// copyBatch is how many rows go into one INSERT: few statements, and far
// below both engines' limits on parameters.
const copyBatch = 200

// Counts is how many rows a table holds, by table.
type Counts map[string]int64

// Copied is what Copy did.
type Copied struct {
	Rows    Counts    // rows copied, by table
	Left    Counts    // rows of the source left out with Skipped, by table
	Skipped []Skipped // reports left out, in key order
}

// Skipped is a report of the source that Copy left out, and why.
type Skipped struct {
	ID            int64
	Org, ReportID string // as stored, whole: neutralise them to show them
	Why           string
}

// Copy copies every report with its policies and failure details, the audit
// log and the DNS cache from src into dst (for `tlsrpt migrate-db`, from
// SQLite to PostgreSQL), in one transaction of dst, keeping every row's key
// and every column, then rebuilds dst's per-address aggregate and checks
// that dst holds as many rows of each table as src, less those left out.
// dst must hold no report and no audit log entry yet.
//
// A report AddReport would now refuse with ErrTooLong (a string over
// MaxIndexed for an indexed column, which an older SQLite store may hold
// and PostgreSQL cannot index) is left out with its policies and details,
// and listed in Skipped with the reason; so is a DNS cache entry with such
// a key. The rest is copied.
func Copy(ctx context.Context, dst, src *Store) (*Copied, error) {
	c, err := copyStores(ctx, dst, src)
	if err != nil {
		return nil, pkgerr.Errorf("store", "copying %s to %s: %w", src.path, dst.path, err)
	}
	return c, nil
}

func copyStores(ctx context.Context, dst, src *Store) (*Copied, error) {
	before, err := dst.Count(ctx)
	if err != nil {
		return nil, err
	}
	if before["reports"] > 0 || before["actions"] > 0 || before["dmarc_reports"] > 0 {
		return nil, pkgerr.Mark(fmt.Sprintf(
			"the destination holds %d reports and %d audit log entries: copy into a new database", before["reports"], before["actions"]), nil, ErrNotEmpty)
	}
	want, err := src.Count(ctx)
	if err != nil {
		return nil, err
	}
	skipped, err := unindexable(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("finding reports the store cannot index: %w", err)
	}
	c := &Copied{Left: Counts{}}
	skip := map[int64]bool{}
	for _, s := range skipped {
		skip[s.ID] = true
	}
	err = dst.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM dns_cache"); err != nil {
			return err
		}
		for _, table := range copied {
			left, err := copyTable(ctx, tx, src, table, skip)
			if err != nil {
				return fmt.Errorf("table %s: %w", table, err)
			}
			c.Left[table] = left
		}
		if err := dst.dialect.resetKeys(ctx, tx); err != nil {
			return err
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
		if got[table] != want[table]-c.Left[table] {
			return nil, fmt.Errorf("table %s: %d rows copied, the source holds %d, %d of them left out",
				table, got[table], want[table], c.Left[table])
		}
	}
	c.Rows, c.Skipped = got, skipped
	return c, nil
}

// unindexable lists the reports of src that AddReport would refuse with
// ErrTooLong, in key order.
func unindexable(ctx context.Context, src *Store) ([]Skipped, error) {
	found := map[int64]*Skipped{}
	var ids []int64
	err := eachRow(ctx, src.db, func(rows *sql.Rows) error {
		var (
			id                      int64
			reporter, org, reportID string
		)
		if err := rows.Scan(&id, &reporter, &org, &reportID); err != nil {
			return err
		}
		if err := checkIndexed(&report.Report{OrganizationName: org, ReportID: reportID}, reporter); err != nil {
			found[id] = &Skipped{ID: id, Org: org, ReportID: reportID, Why: err.Error()}
		}
		ids = append(ids, id)
		return nil
	}, "SELECT id, reporter, org, report_id FROM reports ORDER BY id")
	if err != nil {
		return nil, err
	}
	if err := unindexableTypes(ctx, src, found); err != nil {
		return nil, err
	}
	var list []Skipped
	for _, id := range ids {
		if s := found[id]; s != nil {
			list = append(list, *s)
		}
	}
	return list, nil
}

// unindexableTypes adds to found the reports of src with a failure detail
// whose result-type is longer than MaxIndexed.
func unindexableTypes(ctx context.Context, src *Store, found map[int64]*Skipped) error {
	types, err := queryStrings(ctx, src.db, "SELECT DISTINCT result_type FROM failure_details")
	if err != nil {
		return err
	}
	for _, t := range types {
		n := indexedLen(t)
		if n <= MaxIndexed {
			continue
		}
		rows, err := src.db.QueryContext(ctx, "SELECT DISTINCT d.report_id, r.org, r.report_id FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE d.result_type = ?", t)
		if err != nil {
			return err
		}
		for rows.Next() {
			var s Skipped
			if err := rows.Scan(&s.ID, &s.Org, &s.ReportID); err != nil {
				rows.Close()
				return err
			}
			if found[s.ID] == nil {
				s.Why = tooLong("result-type", n).Error()
				found[s.ID] = &s
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	return queryAll(ctx, db, scanString, query)
}

// scanString reads a row of one text column.
func scanString(rows *sql.Rows) (s string, err error) {
	err = rows.Scan(&s)
	return s, err
}

// Count counts the rows of the tables Copy copies.
func (s *Store) Count(ctx context.Context) (Counts, error) {
	c := Counts{}
	for _, table := range copied {
		var n int64
		// table is one of our own names, never input.
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			return nil, pkgerr.Errorf("store", "counting %s of %s: %w", table, s.path, s.classify(err))
		}
		c[table] = n
	}
	return c, nil
}

// copyTable copies one table from src into tx, in key order, in batches,
// leaving out the reports in skip with their policies and details, and
// DNS cache entries whose key is longer than MaxIndexed; it returns how
// many rows it left out.
func copyTable(ctx context.Context, tx *sql.Tx, src *Store, table string, skip map[int64]bool) (left int64, err error) {
	cols, err := columns(ctx, src.db, table)
	if err != nil {
		return 0, err
	}
	leave := leaveOut(table, cols, skip)
	order := "id"
	if table == "dns_cache" {
		order = "key"
	}
	rows, err := src.db.QueryContext(ctx, "SELECT "+strings.Join(names(cols), ", ")+" FROM "+table+" ORDER BY "+order)
	if err != nil {
		return 0, err
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
			return left, err
		}
		if leave(vals) {
			left++
			continue
		}
		for i, v := range vals {
			batch = append(batch, portable(v, cols[i].blob))
		}
		if len(batch) >= copyBatch*len(cols) {
			if err := flush(); err != nil {
				return left, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return left, err
	}
	return left, flush()
}

// leaveOut returns the test copyTable leaves a row of table out by.
func leaveOut(table string, cols []column, skip map[int64]bool) func(vals []any) bool {
	key := "report_id"
	switch table {
	case "reports":
		key = "id"
	case "dns_cache":
		key = "key"
	case "actions", "dmarc_reports", "dmarc_records":
		// AddDMARC has bounded the DMARC tables' indexed strings from
		// the start; skip holds keys of TLS reports.
		return func([]any) bool { return false }
	}
	at := slices.IndexFunc(cols, func(c column) bool { return c.name == key })
	if at < 0 {
		return func([]any) bool { return false }
	}
	if table == "dns_cache" {
		return func(vals []any) bool { return indexedLen(asString(vals[at])) > MaxIndexed }
	}
	return func(vals []any) bool {
		id, ok := vals[at].(int64)
		return ok && skip[id]
	}
}

// asString is a scanned text value as a string.
func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
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
