package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

func TestEvidence(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	g := arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim=pass"}}
	m := arrival.Source{Transport: "https", Submitter: "microsoft.com", Auth: arrival.Auth{Detail: "https, not authenticated"}}
	old, _, err := s.AddReport(ctx, mkReport("Google Inc.", "g-old", 1,
		detail("192.0.2.10", "certificate-expired", 5), detail("192.0.2.99", "validation-failure", 1)), g)
	if err != nil {
		t.Fatal(err)
	}
	newer, _, err := s.AddReport(ctx, mkReport("Microsoft Corporation", "m-new", 8,
		detail("::ffff:192.0.2.10", "starttls-not-supported", 3)), m)
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Evidence(ctx, netip.MustParseAddr("192.0.2.10"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Evidence{
		{ReportKey: newer, Organization: "Microsoft Corporation", ReportID: "m-new",
			ContactInfo: "smtp-tls-reporting@microsoft.example", Submitter: "microsoft.com",
			Transport: "https", Auth: m.Auth, ResultType: "starttls-not-supported", FailedSessions: 3,
			Start: day(8), End: day(9).Add(-time.Second)},
		{ReportKey: old, Organization: "Google Inc.", ReportID: "g-old",
			ContactInfo: "smtp-tls-reporting@google.example", Submitter: "google.com", FromDomain: "google.com",
			Transport: "mail", Auth: g.Auth, ResultType: "certificate-expired", FailedSessions: 5,
			Start: day(1), End: day(2).Add(-time.Second)},
	}
	if !reflect.DeepEqual(es, want) {
		t.Errorf("Evidence:\n got %+v\nwant %+v", es, want)
	}
	// The mapped form finds the same rows.
	es2, err := s.Evidence(ctx, netip.MustParseAddr("::ffff:192.0.2.10"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(es2, want) {
		t.Errorf("Evidence(mapped form) = %+v, want the same rows", es2)
	}
	for _, ip := range []netip.Addr{netip.MustParseAddr("192.0.2.11"), {}} {
		es, err := s.Evidence(ctx, ip)
		if err != nil || len(es) != 0 {
			t.Errorf("Evidence(%v) = %+v, %v; want nothing", ip, es, err)
		}
	}
}

func TestIPCanonicalForm(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	_, _, err := s.AddReport(ctx, mkReport("Org", "v6", 1,
		detail("2001:DB8::1", "validation-failure", 1),
		detail("2001:0db8:0000::0001", "validation-failure", 2),
		detail("::ffff:1.2.3.4", "validation-failure", 4),
		detail("1.2.3.4", "validation-failure", 8),
		detail("fe80::1%eth0", "validation-failure", 16),
	), arrival.Source{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	rows, err := s.db.Query(`SELECT sending_ip FROM failure_details ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, ip)
	}
	rows.Close()
	if got, want := strings.Join(stored, " "), "2001:db8::1 2001:db8::1 1.2.3.4 1.2.3.4 fe80::1"; got != want {
		t.Errorf("stored addresses %q, want %q", got, want)
	}
	fs := mustFailing(t, s, time.Time{})
	if got, want := ips(fs), "fe80::1 1.2.3.4 2001:db8::1"; got != want {
		t.Errorf("Failing = %q, want %q", got, want)
	}
	if fs[1].FailedSessions != 12 || fs[2].FailedSessions != 3 {
		t.Errorf("sessions per address: %d, %d; want 12, 3", fs[1].FailedSessions, fs[2].FailedSessions)
	}
	if fs[1].IP.Is4In6() || fs[1].IP != netip.MustParseAddr("1.2.3.4") {
		t.Errorf("address read back as %v, want plain IPv4", fs[1].IP)
	}
}

func TestCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	clock := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })

	if v, _, ok, err := s.CacheGet(ctx, "TXT example.com."); err != nil || ok || v != nil {
		t.Fatalf("CacheGet(missing) = %q, ok %v, err %v; want nothing", v, ok, err)
	}
	if err := s.CachePut(ctx, "TXT example.com.", []byte("v=spf1 -all"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.CachePut(ctx, "A example.com.", []byte{}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	v, exp, ok, err := s.CacheGet(ctx, "TXT example.com.")
	if err != nil || !ok || string(v) != "v=spf1 -all" || !exp.Equal(clock.Add(time.Hour)) {
		t.Fatalf("CacheGet = %q, %v, ok %v, err %v; want the value expiring at %v", v, exp, ok, err, clock.Add(time.Hour))
	}
	v, exp, ok, err = s.CacheGet(ctx, "A example.com.")
	if err != nil || !ok || v == nil || len(v) != 0 || !exp.Equal(clock.Add(90*time.Second)) {
		t.Fatalf("CacheGet(empty value) = %q, %v, ok %v, err %v", v, exp, ok, err)
	}
	// Replace with a shorter TTL; later the entry is stale but still there.
	if err := s.CachePut(ctx, "TXT example.com.", []byte("v=spf1 ip4:192.0.2.0/24 -all"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	v, exp, ok, err = s.CacheGet(ctx, "TXT example.com.")
	if err != nil || !ok || string(v) != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Fatalf("CacheGet(replaced) = %q, ok %v, err %v", v, ok, err)
	}
	if !exp.Before(clock) {
		t.Errorf("replaced entry expires %v, want before %v (stale)", exp, clock)
	}
	// Sub-second TTLs round up, so a positive TTL is never already expired.
	if err := s.CachePut(ctx, "TXT short.example.", []byte("x"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, exp, _, _ := s.CacheGet(ctx, "TXT short.example."); !exp.After(clock) {
		t.Errorf("300ms TTL expires %v, want after %v", exp, clock)
	}
}

func TestActions(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if as, err := s.Actions(ctx, 0); err != nil || len(as) != 0 {
		t.Fatalf("Actions(empty) = %+v, %v", as, err)
	}
	t0 := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	in := []Action{
		{Time: t0, IP: netip.MustParseAddr("192.0.2.10"), Host: "mx1.example.com", Backend: "fail2ban", Kind: "unban", Target: "postfix",
			Command: "fail2ban-client set postfix unbanip 192.0.2.10", Applied: true, OK: true, Result: "1"},
		{Time: t0.Add(time.Minute), IP: netip.MustParseAddr("::ffff:192.0.2.11"), Host: "mx2.example.com", Backend: "iptables", Kind: "unban",
			Target: "tlsrpt-test", Command: "iptables -D tlsrpt-test -s 192.0.2.11 -j DROP", Applied: true,
			Result: "iptables: Bad rule"},
		{Time: t0.Add(time.Minute), IP: netip.MustParseAddr("2001:db8::1"), Backend: "ipqbdb", Kind: "keep",
			Command: "ibd-del --ip 2001:db8::1"},
	}
	for i, a := range in {
		id, err := s.LogAction(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		in[i].ID = id
		in[i].IP = in[i].IP.Unmap()
	}
	as, err := s.Actions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{in[2], in[1], in[0]} // newest first; same second: last logged first
	if !reflect.DeepEqual(as, want) {
		t.Errorf("Actions(0):\n got %+v\nwant %+v", as, want)
	}
	as, err = s.Actions(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(as, want[:2]) {
		t.Errorf("Actions(2) = %+v, want %+v", as, want[:2])
	}
	// Zero time means now; zero IP is stored as absent.
	before := time.Now().Add(-time.Second)
	if _, err := s.LogAction(ctx, Action{Backend: "fail2ban", Kind: "plan"}); err != nil {
		t.Fatal(err)
	}
	as, err = s.Actions(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Kind != "plan" || as[0].IP.IsValid() || as[0].Time.Before(before) {
		t.Errorf("Actions(1) after zero-time entry = %+v", as)
	}
}

func TestOpenCreatesFolders(t *testing.T) {
	sqliteOnly(t, "SQLite files and PRAGMAs")
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "c", "tlsrpt.db")
	s := openAt(t, path)
	if s.File() != path {
		t.Errorf("File() = %q, want %q", s.File(), path)
	}
	fi, err := os.Stat(filepath.Join(dir, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created folder mode %v, want 0700", perm)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	} else if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode %v, want 0600", perm)
	}
	if _, _, err := s.AddReport(t.Context(), mkReport("Org", "1", 1), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("WAL file: %v, %v; want mode 0600", fi, err)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk, busy, sync int
	if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if err := s.db.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil || busy != 10000 {
		t.Errorf("busy_timeout = %d, %v; want 10000", busy, err)
	}
	if err := s.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
}

func TestOpenOddPath(t *testing.T) {
	sqliteOnly(t, "SQLite file names")
	// Characters that mean something in a URI must reach the file name.
	path := filepath.Join(t.TempDir(), "we?ird #name%20.db")
	s := openAt(t, path)
	if _, _, err := s.AddReport(t.Context(), mkReport("Org", "1", 1), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

// TestOpenUnwritable names the path and the kind of each failure; the
// fix is the command layer's (internal/cmd/cmdutil.Explain).
func TestOpenUnwritable(t *testing.T) {
	sqliteOnly(t, "SQLite file names")
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, []byte("not a folder, and not a database either, but long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		kind error
	}{
		{filepath.Join(file, "tlsrpt.db"), nil},        // folder is a regular file
		{filepath.Join(file, "sub", "tlsrpt.db"), nil}, // deeper
		{dir, nil},             // a folder, not a file
		{file, ErrNotDatabase}, // a file that is not a database
	} {
		s, err := Open(tc.path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", tc.path)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.path) || strings.Count(msg, "store:") != 1 {
			t.Errorf("Open(%q) error %q should name the path, with one store: prefix", tc.path, msg)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("Open(%q) = %v, want %v", tc.path, err, tc.kind)
		}
		if _, err := OpenReadOnly(tc.path); err == nil {
			t.Errorf("OpenReadOnly(%q) succeeded", tc.path)
		}
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded, want an error")
	}
	if _, err := OpenReadOnly(filepath.Join(dir, "missing.db")); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("OpenReadOnly(missing) = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("OpenReadOnly created the file")
	}
}

// TestOpenReadOnly reads a database without writing it: no migration, no
// -wal left, and an old schema is refused by name.
func TestOpenReadOnly(t *testing.T) {
	sqliteOnly(t, "SQLite files")
	path := filepath.Join(t.TempDir(), "t.db")
	s := openAt(t, path)
	if _, _, err := s.AddReport(t.Context(), mkReport("Org", "r1", 3, detail("192.0.2.1", "certificate-expired", 2)), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ro.Failing(t.Context(), time.Time{})
	if err != nil || len(fs) != 1 {
		t.Errorf("read-only Failing: %+v, %v", fs, err)
	}
	if _, _, err := ro.AddReport(t.Context(), mkReport("Org", "r2", 3), arrival.Source{}); err == nil {
		t.Error("a read-only store took a write")
	}
	ro.Close()
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
