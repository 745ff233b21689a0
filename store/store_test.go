package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// openTemp opens a fresh database: a file in a temporary folder, or in the
// PostgreSQL run (engines_test.go) a new database on the test server.
func openTemp(t testing.TB) *Store {
	t.Helper()
	loc := filepath.Join(t.TempDir(), "tlsrpt.db")
	if onPostgres() {
		loc = newPostgresDB(t)
	}
	return openAt(t, loc)
}

// openAt opens the store at loc, closed when t ends (a close before then
// does no harm); it fails t when the store cannot be opened.
func openAt(t testing.TB, loc string) *Store {
	t.Helper()
	s, err := Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantEqual fails t on err, and reports got unless it is want.
func wantEqual[T any](t testing.TB, got T, err error, want T) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// mustFailing returns s.Failing(since), failing t on an error.
func mustFailing(t testing.TB, s *Store, since time.Time) []FailingAddress {
	t.Helper()
	fs, err := s.Failing(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func day(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

// mkReport builds a one-policy report with a failure detail per (ip, n)
// pair; an empty ip string gives a detail without sending address.
func mkReport(org, id string, start int, details ...report.FailureDetail) *report.Report {
	var failed int64
	for _, d := range details {
		failed += d.FailedSessions
	}
	return &report.Report{
		OrganizationName: org,
		ContactInfo:      "smtp-tls-reporting@" + strings.ToLower(strings.Fields(org)[0]) + ".example",
		ReportID:         id,
		Start:            day(start),
		End:              day(start + 1).Add(-time.Second),
		Policies: []report.Policy{{
			Type:       "sts",
			Strings:    []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"},
			Domain:     "example.net",
			MXHosts:    []string{"mx.example.net"},
			Successful: 100,
			Failed:     failed,
			Details:    details,
		}},
	}
}

func detail(ip, result string, n int64) report.FailureDetail {
	d := report.FailureDetail{
		ResultType:          result,
		ReceivingMXHostname: "mx.example.net",
		ReceivingIP:         netip.MustParseAddr("198.51.100.25"),
		FailedSessions:      n,
	}
	if ip != "" {
		d.SendingMTAIP = netip.MustParseAddr(ip)
	}
	return d
}

func TestAddReportRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	r := &report.Report{
		OrganizationName: "Google Inc.",
		ContactInfo:      "smtp-tls-reporting@google.com",
		ReportID:         "2026-11-20T00:00:00Z_example.net",
		Start:            day(20),
		End:              day(21).Add(-time.Second),
		Policies: []report.Policy{
			{
				Type:       "sts",
				Strings:    []string{"version: STSv1", "mode: enforce", "mx: mx1.example.net", "max_age: 604800"},
				Domain:     "example.net",
				MXHosts:    []string{"mx1.example.net", "*.example.net"},
				Successful: 1234,
				Failed:     7,
				Details: []report.FailureDetail{
					{
						ResultType:            "certificate-expired",
						SendingMTAIP:          netip.MustParseAddr("209.85.128.1"),
						ReceivingMXHostname:   "mx1.example.net",
						ReceivingMXHelo:       "mx1.example.net",
						ReceivingIP:           netip.MustParseAddr("2001:db8::25"),
						FailedSessions:        5,
						AdditionalInformation: "https://example.net/why",
						FailureReasonCode:     "X509_V_ERR_CERT_HAS_EXPIRED",
					},
					{ResultType: "validation-failure", FailedSessions: 2},
				},
			},
			{Type: "no-policy-found", Domain: "other.example", Successful: 3},
		},
	}
	src := arrival.Source{
		Transport:  "mail",
		Submitter:  "google.com",
		FromDomain: "google.com",
		MessageID:  "<abc@google.com>",
		Received:   time.Date(2026, 11, 21, 10, 11, 12, 0, time.UTC),
		Auth:       arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim=pass d=google.com"},
	}
	id, dup, err := s.AddReport(ctx, r, src)
	if err != nil {
		t.Fatal(err)
	}
	if dup || id <= 0 {
		t.Fatalf("AddReport = %d, dup %v; want a new positive key", id, dup)
	}
	got, gotSrc, err := s.Report(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Empty lists come back as empty, not nil.
	want := *r
	want.Policies = slicesClone(r.Policies)
	want.Policies[1].Strings, want.Policies[1].MXHosts = []string{}, []string{}
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("report round trip:\n got %+v\nwant %+v", got, &want)
	}
	if gotSrc != src {
		t.Errorf("source round trip: got %+v, want %+v", gotSrc, src)
	}
	if _, _, err := s.Report(ctx, id+100); !errors.Is(err, ErrNotFound) || strings.Count(err.Error(), "store:") != 1 {
		t.Errorf("Report(missing) error = %v, want ErrNotFound with one store: prefix", err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Stats{Reports: 1, Details: 2, Addresses: 1, ByTransport: map[string]int64{"mail": 1}}
	if !reflect.DeepEqual(st, wantSt) {
		t.Errorf("Stats = %+v, want %+v", st, wantSt)
	}
}

func slicesClone(p []report.Policy) []report.Policy { return append([]report.Policy(nil), p...) }

func TestAddReportDuplicate(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	r := mkReport("Microsoft Corporation", "133-abc", 10, detail("40.92.1.1", "starttls-not-supported", 3))
	plain := arrival.Source{Transport: "mail", Submitter: "microsoft.com", MessageID: "<1@x>",
		Auth: arrival.Auth{Detail: "no dkim signature"}}
	id1, dup, err := s.AddReport(ctx, r, plain)
	if err != nil || dup {
		t.Fatalf("first AddReport: dup %v, err %v", dup, err)
	}
	id2, dup, err := s.AddReport(ctx, r, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !dup || id2 != id1 {
		t.Fatalf("second AddReport = %d, dup %v; want %d, dup true", id2, dup, id1)
	}
	// Same report-id from another organization is another report.
	other := mkReport("Other Org", "133-abc", 10, detail("40.92.1.1", "starttls-not-supported", 1))
	if _, dup, err := s.AddReport(ctx, other, plain); err != nil || dup {
		t.Fatalf("same report-id, other org: dup %v, err %v", dup, err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reports != 2 || st.Details != 2 {
		t.Errorf("after duplicate: %d reports, %d details; want 2, 2", st.Reports, st.Details)
	}
	fs := mustFailing(t, s, time.Time{})
	if len(fs) != 1 || fs[0].FailedSessions != 4 {
		t.Errorf("Failing after duplicate = %+v; want one address with 4 sessions (not 7)", fs)
	}
}

func TestAddReportAuthUpgrade(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	r := mkReport("Google Inc.", "up-1", 10, detail("209.85.1.1", "validation-failure", 1))
	plain := arrival.Source{Transport: "import", Submitter: "google.com", MessageID: "<plain@x>",
		Auth: arrival.Auth{Detail: "no signature"}}
	signed := arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com", MessageID: "<signed@x>",
		Received: day(12), Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim=pass"}}
	other := arrival.Source{Transport: "https", Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "evil.example"}}

	id, _, err := s.AddReport(ctx, r, plain)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want arrival.Source) {
		t.Helper()
		_, got, err := s.Report(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: stored source %+v, want %+v", step, got, want)
		}
		es, err := s.Evidence(ctx, netip.MustParseAddr("209.85.1.1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Auth != want.Auth || es[0].Transport != want.Transport {
			t.Errorf("%s: evidence %+v, want auth %+v", step, es, want.Auth)
		}
	}
	check("first, unauthenticated", plain)
	if _, dup, err := s.AddReport(ctx, r, plain); err != nil || !dup {
		t.Fatalf("unauthenticated duplicate: dup %v, err %v", dup, err)
	}
	check("unauthenticated duplicate", plain)
	// The signed copy replaces the unsigned one whole: its key is the
	// new row's (SQLite happens to reuse the old number, PostgreSQL not).
	nid, dup, err := s.AddReport(ctx, r, signed)
	if err != nil || !dup {
		t.Fatalf("signed duplicate: dup %v, err %v", dup, err)
	}
	id = nid
	check("signed duplicate upgrades", signed)
	// Once authenticated, the stored verdict is kept: an unauthenticated
	// copy is a duplicate.
	if _, dup, err := s.AddReport(ctx, r, plain); err != nil || !dup {
		t.Fatalf("later unauthenticated duplicate: dup %v, err %v", dup, err)
	}
	check("later duplicates keep the signed source", signed)
	// A copy authenticated by another domain is that domain's report,
	// stored apart: it neither replaces nor is swallowed by google's.
	oid, dup, err := s.AddReport(ctx, r, other)
	if err != nil || dup || oid == id {
		t.Fatalf("copy signed by another domain: key %d (google's %d), dup %v, err %v", oid, id, dup, err)
	}
	_, got, err := s.Report(ctx, id)
	if err != nil || got != signed {
		t.Errorf("google's report after evil.example's copy: %+v, %v", got, err)
	}
}

// TestFailing: Google's reports are signed, Microsoft's are not (its name
// is marked).
func TestFailing(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	add := func(r *report.Report) {
		t.Helper()
		src := arrival.Source{Transport: "mail"}
		if r.OrganizationName == "Google Inc." {
			src = signed("google.com")
		}
		if _, _, err := s.AddReport(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	add(mkReport("Google Inc.", "g1", 1,
		detail("192.0.2.10", "certificate-expired", 5),
		detail("192.0.2.20", "validation-failure", 2),
		detail("", "sts-policy-fetch-error", 50), // no address: left out
	))
	add(mkReport("Microsoft Corporation", "m1", 3,
		detail("192.0.2.10", "validation-failure", 4),
		detail("::ffff:192.0.2.20", "starttls-not-supported", 7), // same as 192.0.2.20
		detail("2001:DB8::1", "certificate-expired", 9),
	))
	add(mkReport("Google Inc.", "g2", 5,
		detail("192.0.2.10", "certificate-expired", 1),
		detail("192.0.2.30", "validation-failure", 1),
	))

	fs := mustFailing(t, s, time.Time{})
	want := []FailingAddress{
		{IP: netip.MustParseAddr("192.0.2.10"), FailedSessions: 10, Reports: 3,
			Organizations:              []string{"Google Inc.", "Microsoft Corporation (unauthenticated)"},
			AuthenticatedOrganizations: []string{"Google Inc."},
			ResultTypes:                []string{"certificate-expired", "validation-failure"},
			FirstSeen:                  day(1), LastSeen: day(6).Add(-time.Second)},
		{IP: netip.MustParseAddr("2001:db8::1"), FailedSessions: 9, Reports: 1,
			Organizations: []string{"Microsoft Corporation (unauthenticated)"},
			ResultTypes:   []string{"certificate-expired"},
			FirstSeen:     day(3), LastSeen: day(4).Add(-time.Second)},
		{IP: netip.MustParseAddr("192.0.2.20"), FailedSessions: 9, Reports: 2,
			Organizations:              []string{"Google Inc.", "Microsoft Corporation (unauthenticated)"},
			AuthenticatedOrganizations: []string{"Google Inc."},
			ResultTypes:                []string{"starttls-not-supported", "validation-failure"},
			FirstSeen:                  day(1), LastSeen: day(4).Add(-time.Second)},
		{IP: netip.MustParseAddr("192.0.2.30"), FailedSessions: 1, Reports: 1,
			Organizations:              []string{"Google Inc."},
			AuthenticatedOrganizations: []string{"Google Inc."},
			ResultTypes:                []string{"validation-failure"},
			FirstSeen:                  day(5), LastSeen: day(6).Add(-time.Second)},
	}
	// 192.0.2.20 and 2001:db8::1 tie at 9: IPv4 sorts before IPv6.
	want[1], want[2] = want[2], want[1]
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("Failing(all):\n got %+v\nwant %+v", fs, want)
	}

	// since: only reports ending at or after it count. m1 ends on day 4
	// 23:59:59, so since = that instant keeps it, one second later drops it.
	fs = mustFailing(t, s, day(4).Add(-time.Second))
	if got, want := ips(fs), "2001:db8::1 192.0.2.20 192.0.2.10 192.0.2.30"; got != want {
		t.Errorf("Failing(since day 4) order = %q, want %q", got, want)
	}
	if f := fs[2]; f.FailedSessions != 5 || f.Reports != 2 || !f.FirstSeen.Equal(day(3)) ||
		!reflect.DeepEqual(f.Organizations, []string{"Google Inc.", "Microsoft Corporation (unauthenticated)"}) {
		t.Errorf("Failing(since day 4) 192.0.2.10 = %+v; want 5 sessions from 2 reports of both orgs, first seen day 3", f)
	}
	fs = mustFailing(t, s, day(4))
	if got, want := ips(fs), "192.0.2.10 192.0.2.30"; got != want {
		t.Errorf("Failing(since day 4 end) = %q, want %q", got, want)
	}
	fs = mustFailing(t, s, day(7))
	if len(fs) != 0 {
		t.Errorf("Failing(after all reports) = %+v, want none", fs)
	}
}

func ips(fs []FailingAddress) string {
	var l []string
	for _, f := range fs {
		l = append(l, f.IP.String())
	}
	return strings.Join(l, " ")
}

// TestAddReportResult tells a new report, a duplicate and an upgrade (an
// authenticated copy replacing an unauthenticated one) apart, where
// AddReport says dup for the last two.
func TestAddReportResult(t *testing.T) {
	st := openAt(t, filepath.Join(t.TempDir(), "t.db"))
	r := &report.Report{OrganizationName: "Google Inc.", ReportID: "upgrade-1",
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	unsigned := arrival.Source{Transport: "mail", Submitter: "google.com"}
	signed := arrival.Source{Transport: "mail", Submitter: "google.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}
	ctx := t.Context()
	for i, step := range []struct {
		src  arrival.Source
		want arrival.Added
	}{{unsigned, arrival.New}, {unsigned, arrival.Duplicate}, {signed, arrival.Upgraded}, {signed, arrival.Duplicate}, {unsigned, arrival.Duplicate}} {
		if _, got, err := st.AddReportResult(ctx, r, step.src); err != nil || got != step.want {
			t.Errorf("step %d: %v, %v; want %v", i+1, got, err, step.want)
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

// TestOpenExisting: OpenExisting opens a store that is there and never
// creates one, nor its folder.
func TestOpenExisting(t *testing.T) {
	sqliteOnly(t, "files")
	dir := t.TempDir()
	missing := filepath.Join(dir, "sub", "tlsrpt.db")
	if _, err := OpenExisting(missing); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("OpenExisting(missing) = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenExisting made the folder: %v", err)
	}
	path := filepath.Join(dir, "tlsrpt.db")
	openAt(t, path).Close()
	s, err := OpenExisting(path)
	if err != nil {
		t.Fatalf("OpenExisting(existing) = %v", err)
	}
	if _, _, err := s.AddReport(t.Context(), mkReport("Google Inc.", "r1", 3), arrival.Source{Transport: "mail"}); err != nil {
		t.Errorf("writing through OpenExisting: %v", err)
	}
	s.Close()
}
