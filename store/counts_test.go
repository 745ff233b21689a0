package store

import (
	"database/sql"
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestHostileCounts: counts beyond MaxCount are refused whole, counts up
// to it are stored and summed, and nothing review reads fails or turns
// negative.
func TestHostileCounts(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		change func(r *report.Report)
	}{
		{"failed-session-count MaxInt64", func(r *report.Report) { r.Policies[0].Details[0].FailedSessions = math.MaxInt64 }},
		{"failed-session-count MaxCount+1", func(r *report.Report) { r.Policies[0].Details[0].FailedSessions = MaxCount + 1 }},
		{"failed-session-count negative", func(r *report.Report) { r.Policies[0].Details[0].FailedSessions = -1 }},
		{"failed-session-count MinInt64", func(r *report.Report) { r.Policies[0].Details[0].FailedSessions = math.MinInt64 }},
		{"total-failure-session-count MaxInt64", func(r *report.Report) { r.Policies[0].Failed = math.MaxInt64 }},
		{"total-successful-session-count MaxInt64", func(r *report.Report) { r.Policies[0].Successful = math.MaxInt64 }},
		{"total-successful-session-count negative", func(r *report.Report) { r.Policies[0].Successful = -5 }},
	} {
		r := mkReport("Evil", "evil-"+tc.name, 1, detail("192.0.2.66", "validation-failure", 1))
		tc.change(r)
		_, _, err := s.AddReport(ctx, r, arrival.Source{})
		if !errors.Is(err, ErrCount) || strings.Count(err.Error(), "store:") != 1 {
			t.Errorf("%s: error %v, want ErrCount with one store: prefix", tc.name, err)
		}
	}
	// Two reports at the bound, as in the issue, for the same address,
	// and a report whose details together reach MaxSum.
	for i, id := range []string{"max-1", "max-2"} {
		r := mkReport("Big", id, 1+i, detail("192.0.2.1", "validation-failure", MaxCount),
			detail("192.0.2.1", "certificate-expired", MaxCount))
		r.Policies[0].Successful, r.Policies[0].Failed = MaxCount, MaxCount
		if _, _, err := s.AddReport(ctx, r, arrival.Source{}); err != nil {
			t.Fatalf("report at MaxCount: %v", err)
		}
	}
	check := func(step string, wantSessions int64) {
		t.Helper()
		for _, since := range []time.Time{{}, day(1)} {
			fs, err := s.Failing(ctx, since)
			if err != nil {
				t.Fatalf("%s: Failing(%v): %v", step, since, err)
			}
			if len(fs) != 1 || fs[0].FailedSessions != wantSessions || fs[0].Reports != 2 {
				t.Errorf("%s: Failing(%v) = %+v; want 192.0.2.1 with %d sessions from 2 reports", step, since, fs, wantSessions)
			}
		}
		ev, err := s.EvidenceAll(ctx, time.Time{})
		if err != nil {
			t.Fatalf("%s: EvidenceAll: %v", step, err)
		}
		es := ev[netip.MustParseAddr("192.0.2.1")]
		if len(es) != 4 {
			t.Errorf("%s: %d evidence rows, want 4", step, len(es))
		}
		for _, e := range es {
			if e.FailedSessions < 0 || e.FailedSessions > MaxCount {
				t.Errorf("%s: evidence with %d sessions", step, e.FailedSessions)
			}
		}
		for _, key := range []int64{1, 2} {
			r, _, err := s.Report(ctx, key)
			if err != nil {
				t.Fatalf("%s: Report(%d): %v", step, key, err)
			}
			for _, d := range r.Policies[0].Details {
				if d.FailedSessions < 0 || d.FailedSessions > MaxCount {
					t.Errorf("%s: report %d reads back a detail with %d sessions", step, key, d.FailedSessions)
				}
			}
		}
		if st, err := s.Stats(ctx); err != nil || st.Details != 4 || st.Addresses != 1 {
			t.Errorf("%s: Stats = %+v, %v", step, st, err)
		}
	}
	check("at the bound", 4*MaxCount)

	// A database written by something else holds what AddReport refuses:
	// sums saturate, whichever way they are read, and stay non-negative.
	if _, err := s.db.Exec(`UPDATE failure_details SET sessions = 9223372036854775807`); err != nil {
		t.Fatal(err)
	}
	// The aggregate was not told; mark the address stale as a delete
	// would, to read through the details.
	if _, err := s.db.Exec(`INSERT INTO addresses_stale (ip) VALUES ('192.0.2.1')`); err != nil {
		t.Fatal(err)
	}
	check("hostile rows, read from the details", MaxSum)
	// A write recomputes the stale address from those rows: saturated.
	if _, _, err := s.AddReport(ctx, mkReport("Other", "o", 1), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	check("hostile rows, aggregate recomputed", MaxSum)
	var stored int64
	if err := s.db.QueryRow(`SELECT sessions FROM addresses WHERE ip = '192.0.2.1'`).Scan(&stored); err != nil || stored != MaxSum {
		t.Errorf("aggregate holds %d, %v; want MaxSum", stored, err)
	}
	if _, err := s.db.Exec(`UPDATE failure_details SET sessions = -7`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO addresses_stale (ip) VALUES ('192.0.2.1')`); err != nil {
		t.Fatal(err)
	}
	check("negative rows, read from the details", 0)
}

// TestReportTotalBound: a report whose details add up to MaxSum sessions
// is refused, one just below it is stored, and adding to the aggregate
// saturates.
func TestReportTotalBound(t *testing.T) {
	// Millions of details at MaxCount, sharing one backing array.
	shared := make([]report.FailureDetail, 1000)
	for i := range shared {
		shared[i].FailedSessions = MaxCount
	}
	withDetails := func(n int) *report.Report {
		r := &report.Report{}
		for ; n > 0; n -= len(shared) {
			r.Policies = append(r.Policies, report.Policy{Details: shared[:min(n, len(shared))]})
		}
		return r
	}
	n := int(MaxSum/MaxCount) + 1 // 4611687 details make more than MaxSum
	if err := checkCounts(withDetails(n)); !errors.Is(err, ErrCount) {
		t.Errorf("checkCounts(%d details of MaxCount) = %v, want ErrCount", n, err)
	}
	if err := checkCounts(withDetails(n - 2)); err != nil {
		t.Errorf("checkCounts(%d details of MaxCount) = %v, want nil", n-2, err)
	}
	for _, tc := range []struct{ a, b, want int64 }{
		{0, 0, 0}, {1, 2, 3}, {MaxSum, 0, MaxSum}, {MaxSum, MaxSum, MaxSum}, {MaxSum - 1, 1, MaxSum}, {MaxSum - 1, 2, MaxSum},
	} {
		if got := satAdd(tc.a, tc.b); got != tc.want {
			t.Errorf("satAdd(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	// The aggregate's upsert saturates too.
	s := openTemp(t)
	ctx := t.Context()
	if _, _, err := s.AddReport(ctx, mkReport("Org", "1", 1, detail("192.0.2.1", "validation-failure", 5)), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE addresses SET sessions = ?`, int64(MaxSum-3)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddReport(ctx, mkReport("Org", "2", 2, detail("192.0.2.1", "validation-failure", 5)), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Failing(ctx, time.Time{})
	if err != nil || len(fs) != 1 || fs[0].FailedSessions != MaxSum {
		t.Errorf("Failing after saturating add = %+v, %v; want MaxSum", fs, err)
	}
}

// TestMigrateClampsCounts: a version 1 database holding the counts of the
// issue (two details of MaxInt64) migrates to clamped counts that review
// can sum.
func TestMigrateClampsCounts(t *testing.T) {
	sqliteOnly(t, "a version-1 SQLite file")
	path := filepath.Join(t.TempDir(), "v1.db")
	s := openFromV1(t, path, []string{
		`INSERT INTO reports (id, org, report_id, start_time, end_time, stored) VALUES (1, 'Evil', 'e1', 100, 200, 300), (2, 'Evil', 'e2', 100, 200, 300)`,
		`INSERT INTO policies (id, report_id, type, successful, failed) VALUES (1, 1, 'sts', -4, 9223372036854775807), (2, 2, 'sts', 9223372036854775807, 0)`,
		`INSERT INTO failure_details (policy_id, report_id, result_type, sending_ip, sessions) VALUES
			(1, 1, 'validation-failure', '192.0.2.1', 9223372036854775807),
			(2, 2, 'validation-failure', '192.0.2.1', 9223372036854775807),
			(2, 2, 'validation-failure', '192.0.2.2', -9)`,
	})
	ctx := t.Context()
	fs := mustFailing(t, s, time.Time{})
	if got := ips(fs); got != "192.0.2.1 192.0.2.2" || fs[0].FailedSessions != 2*MaxCount || fs[1].FailedSessions != 0 {
		t.Errorf("Failing after migration = %+v", fs)
	}
	r, _, err := s.Report(ctx, 1)
	if err != nil || r.Policies[0].Successful != 0 || r.Policies[0].Failed != MaxCount {
		t.Errorf("report 1 after migration: %+v, %v", r, err)
	}
}

// v1Database creates a database at schema version 1 at path, as the first
// release wrote it, and returns it open.
func v1Database(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(sqliteSteps()[0].sql + "; PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	return db
}

// openFromV1 makes a version 1 SQLite file at path (v1Database), runs
// stmts in it, each with args, and opens it with Open, which migrates
// it; the store is closed when t ends.
func openFromV1(t *testing.T, path string, stmts []string, args ...any) *Store {
	t.Helper()
	db := v1Database(t, path)
	for _, q := range stmts {
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()
	s := openAt(t, path)
	t.Cleanup(func() { s.Close() })
	return s
}
