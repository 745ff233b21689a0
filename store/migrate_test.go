package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// TestMigrateV1Data migrates a version 1 database holding reports,
// policies and details, and checks that what it held is kept, keyed and
// aggregated as AddReport would have done, with foreign keys intact.
func TestMigrateV1Data(t *testing.T) {
	sqliteOnly(t, "a version-1 SQLite file; PostgreSQL stores start at the current schema")
	path := filepath.Join(t.TempDir(), "v1.db")
	start, end := day(20).Unix(), day(21).Unix()-1
	s := openFromV1(t, path, []string{
		`INSERT INTO reports (id, org, report_id, contact, start_time, end_time, submitter, from_domain,
			transport, auth_authenticated, auth_method, auth_domain, auth_detail, stored) VALUES
			(1, 'Google Inc.', 'g1', 'smtp-tls-reporting@google.example', ?1, ?2, 'google.com', 'google.com',
				'mail', 1, 'dkim', 'google.com', 'dkim=pass', 1),
			(2, 'Microsoft Corporation', 'm1', 'smtp-tls-reporting@microsoft.example', ?1, ?2, 'Microsoft.com', '',
				'mail', 0, '', '', 'no signature', 1),
			(3, 'Org', 'o1', 'smtp-tls-reporting@org.example', ?1, ?2, '', '',
				'https', 1, 'authres', '', 'odd', 1)`,
		`INSERT INTO policies (id, report_id, type, domain, strings, mx_hosts, successful, failed) VALUES
			(1, 1, 'sts', 'example.net', '["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"]', '["mx.example.net"]', 100, 5),
			(2, 2, 'sts', 'example.net', '["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"]', '["mx.example.net"]', 100, 3),
			(3, 3, 'sts', 'example.net', '["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"]', '["mx.example.net"]', 100, 1)`,
		`INSERT INTO failure_details (policy_id, report_id, result_type, sending_ip, receiving_mx, receiving_ip, sessions) VALUES
			(1, 1, 'certificate-expired', '209.85.220.41', 'mx.example.net', '198.51.100.25', 3),
			(1, 1, 'certificate-expired', '2607:f8b0:4864:20::b2a', 'mx.example.net', '198.51.100.25', 2),
			(2, 2, 'starttls-not-supported', '40.92.1.1', 'mx.example.net', '198.51.100.25', 3),
			(3, 3, 'made-up-type', '209.85.220.41', 'mx.example.net', '198.51.100.25', 1)`,
	}, start, end)
	ctx := t.Context()

	// Keys and digests as AddReport computes them.
	for id, want := range map[int64]string{1: "google.com", 2: "microsoft.com", 3: "org"} {
		var reporter, digest string
		if err := s.db.QueryRow(`SELECT reporter, digest FROM reports WHERE id = ?`, id).Scan(&reporter, &digest); err != nil {
			t.Fatal(err)
		}
		r, _, err := s.Report(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if reporter != want || digest != digestOf(r) {
			t.Errorf("report %d: reporter %q (want %q), digest %q (want %q)", id, reporter, want, digest, digestOf(r))
		}
	}

	// The aggregate holds what the details say.
	fs := mustFailing(t, s, time.Time{})
	want := []FailingAddress{
		{IP: netip.MustParseAddr("209.85.220.41"), FailedSessions: 4, Reports: 2,
			Organizations: []string{"Google Inc.", "Org"}, AuthenticatedOrganizations: []string{"Google Inc.", "Org"}, ResultTypes: []string{"certificate-expired", "made-up-type"},
			FirstSeen: day(20), LastSeen: day(21).Add(-time.Second)},
		{IP: netip.MustParseAddr("40.92.1.1"), FailedSessions: 3, Reports: 1,
			Organizations: []string{"Microsoft Corporation (unauthenticated)"}, ResultTypes: []string{"starttls-not-supported"},
			FirstSeen: day(20), LastSeen: day(21).Add(-time.Second)},
		{IP: netip.MustParseAddr("2607:f8b0:4864:20::b2a"), FailedSessions: 2, Reports: 1,
			Organizations: []string{"Google Inc."}, AuthenticatedOrganizations: []string{"Google Inc."}, ResultTypes: []string{"certificate-expired"},
			FirstSeen: day(20), LastSeen: day(21).Add(-time.Second)},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("Failing after migration:\n got %+v\nwant %+v", fs, want)
	}
	var stale int
	s.db.QueryRow(`SELECT COUNT(*) FROM addresses_stale`).Scan(&stale)
	var aggregated int
	s.db.QueryRow(`SELECT COUNT(*) FROM addresses`).Scan(&aggregated)
	if stale != 0 || aggregated != 3 {
		t.Errorf("after migration: %d addresses stale, %d aggregated; want 0 and 3", stale, aggregated)
	}

	// New copies meet the migrated ones as AddReport promises.
	g, gsrc := genuineGoogle()
	g.ReportID, g.ContactInfo = "g1", "smtp-tls-reporting@google.example"
	g.Policies[0].Failed = 5
	if id, dup, err := s.AddReport(ctx, g, gsrc); err != nil || !dup || id != 1 {
		t.Errorf("Google's report again: key %d, dup %v, %v; want 1, dup", id, dup, err)
	}
	m, _, err := s.Report(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	msrc := arrival.Source{Transport: "https", Auth: arrival.Auth{Detail: "https"}}
	if id, dup, err := s.AddReport(ctx, m, msrc); err != nil || !dup || id != 2 {
		t.Errorf("Microsoft's report over https, word for word: key %d, dup %v, %v; want 2, dup", id, dup, err)
	}
	signed := arrival.Source{Transport: "mail", Submitter: "microsoft.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "microsoft.com"}}
	if _, dup, err := s.AddReport(ctx, m, signed); err != nil || !dup {
		t.Errorf("Microsoft's signed copy: dup %v, %v; want it to replace the unsigned one", dup, err)
	}
	ev, err := s.Evidence(ctx, netip.MustParseAddr("40.92.1.1"))
	if err != nil || len(ev) != 1 || ev[0].Auth != signed.Auth {
		t.Errorf("Microsoft's evidence after the signed copy: %+v, %v", ev, err)
	}
	if _, dup, err := s.AddReport(ctx, forged(), arrival.Source{Submitter: "evil.example",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example"}}); err != nil || dup {
		t.Errorf("evil.example's report: dup %v, %v; want stored apart", dup, err)
	}

	// Foreign keys hold and are enforced on every connection.
	conns := make([]interface{ Close() error }, 0, 4)
	for range 4 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var fk int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("a connection has foreign_keys = %d, %v", fk, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if _, err := s.db.Exec(`DELETE FROM reports WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	var left int
	s.db.QueryRow(`SELECT COUNT(*) FROM failure_details WHERE report_id = 1`).Scan(&left)
	if left != 0 {
		t.Errorf("%d details of a deleted report left: cascade broken", left)
	}
	var indexes []string
	rows, err := s.db.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		indexes = append(indexes, n)
	}
	rows.Close()
	for _, want := range []string{"reports_time", "reports_content", "failure_details_ip", "failure_details_report_id", "failure_details_policy_id"} {
		if !slices.Contains(indexes, want) {
			t.Errorf("index %s missing: %v", want, indexes)
		}
	}
	if slices.Contains(indexes, "failure_details_sending_ip") {
		t.Errorf("the covered index failure_details_sending_ip is still there")
	}
}

// TestOpenLockedCurrent: opening a database at the current version takes
// no write lock, so a filter can open it while another process writes.
func TestOpenLockedCurrent(t *testing.T) {
	sqliteOnly(t, "SQLite's file lock")
	s := openTemp(t)
	path := s.File()
	release := holdWriteLock(t, path)
	defer release()
	s2, err := Open(path)
	if err != nil {
		t.Fatalf("Open while another process holds the write lock: %v", err)
	}
	s2.Close()
}

func TestMigrateFromVersion1(t *testing.T) {
	sqliteOnly(t, "a version-1 SQLite file")
	path := filepath.Join(t.TempDir(), "v1.db")
	ctx := t.Context()
	// A database at version 1, as the first release wrote it.
	s := openFromV1(t, path, []string{`INSERT INTO reports (org, report_id, start_time, end_time, stored)
		VALUES ('Old Org', 'old-1', 100, 200, 300)`})
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version after Open = %d, %v; want %d", v, err, SchemaVersion)
	}
	// A next version appended to the list is applied on top, once.
	next := append(slices.Clip(sqliteSteps()), migration{
		name: "test step", sql: `ALTER TABLE reports ADD COLUMN note TEXT NOT NULL DEFAULT 'migrated'`})
	for range 2 {
		if err := s.migrate(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
	var note string
	if err := s.db.QueryRow(`SELECT note FROM reports WHERE report_id = 'old-1'`).Scan(&note); err != nil || note != "migrated" {
		t.Errorf("old row after migration: note %q, %v", note, err)
	}
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(next) {
		t.Errorf("user_version after next step = %d, %v; want %d", v, err, len(next))
	}
	// The old data is still usable through the API.
	r, _, err := s.Report(ctx, 1)
	if err != nil || r.OrganizationName != "Old Org" || !r.End.Equal(time.Unix(200, 0)) {
		t.Errorf("Report(1) = %+v, %v", r, err)
	}
	// This program refuses a schema it does not know.
	s.Close()
	if _, err := Open(path); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open(newer schema) error = %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationIsAtomic(t *testing.T) {
	sqliteOnly(t, "its failing step is SQLite SQL (TestPostgresMigrationIsAtomic covers PostgreSQL)")
	s := openTemp(t)
	bad := append(slices.Clip(sqliteSteps()), migration{
		name: "broken", sql: `CREATE TABLE half (x); SELECT * FROM no_such_table`})
	if err := s.migrate(t.Context(), bad); err == nil {
		t.Fatal("broken migration succeeded")
	}
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n)
	var v int
	s.db.QueryRow("PRAGMA user_version").Scan(&v)
	if n != 0 || v != SchemaVersion {
		t.Errorf("after a failed step: table half exists %v, version %d; want rolled back at %d", n == 1, v, SchemaVersion)
	}
}
