package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
)

// The tests of this file run on both engines (see engines_test.go): the
// same hostile report must have the same outcome on SQLite and on
// PostgreSQL.

// TestIndexedBounds sends strings longer than MaxIndexed in every field
// that lands in an indexed column: each is refused with ErrTooLong naming
// the field, on both engines alike, before any statement, and nothing is
// stored. Strings of exactly MaxIndexed bytes, three in the widest index,
// are stored and found again on both: the bound is one PostgreSQL takes.
func TestIndexedBounds(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	long := reporttest.Noise(20000)
	signed := func(domain string) arrival.Source {
		return arrival.Source{Transport: "mail", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: domain}}
	}
	for _, c := range []struct {
		name, field string
		r           *report.Report
		src         arrival.Source
	}{
		{"report-id", "report-id of 20000 bytes", mkReport("Org", long, 1, detail("192.0.2.1", "certificate-expired", 1)), arrival.Source{}},
		{"organization-name", "organization-name of 20000 bytes", mkReport(long, "id", 1, detail("192.0.2.1", "certificate-expired", 1)), arrival.Source{}},
		{"result-type", "failure detail 2: result-type of 20000 bytes", mkReport("Org", "id", 1, detail("", "x", 1), detail("192.0.2.1", long, 1)), arrival.Source{}},
		{"submitter", "reporter (authenticated domain, TLS-Report-Submitter or From domain) of 20000 bytes", mkReport("Org", "id", 1), arrival.Source{Submitter: long}},
		{"from domain", "reporter", mkReport("Org", "id", 1), arrival.Source{FromDomain: long}},
		{"authenticated domain", "reporter", mkReport("Org", "id", 1), signed(long)},
		// 267 NULs are 801 bytes once PostgreSQL stores them (U+FFFD).
		{"NUL report-id", "report-id of 801 bytes", mkReport("Org", strings.Repeat("\x00", 267), 1), arrival.Source{}},
	} {
		_, _, err := s.AddReport(ctx, c.r, c.src)
		if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "exceeds 800") {
			t.Errorf("%s: %v, want ErrTooLong naming %q", c.name, err, c.field)
			continue
		}
		if msg := err.Error(); len(msg) > 400 || strings.Contains(msg, long[:100]) {
			t.Errorf("%s: the error quotes the string (%d bytes): %.200s", c.name, len(msg), msg)
		}
	}
	if n, _ := s.Count(ctx); n["reports"] != 0 || n["failure_details"] != 0 {
		t.Errorf("refused reports were stored: %v", n)
	}

	// At the bound: reporter, organization-name and report-id of 800
	// bytes each (the widest index), a result-type of 800.
	org, id, typ, submitter := reporttest.Noise(MaxIndexed), reporttest.Noise(MaxIndexed), reporttest.Noise(MaxIndexed), reporttest.Noise(MaxIndexed)
	r := mkReport(org, id, 1, detail("192.0.2.7", typ, 3))
	key, dup, err := s.AddReport(ctx, r, arrival.Source{Submitter: submitter})
	if err != nil || dup {
		t.Fatalf("strings of exactly %d bytes: dup %v, %v", MaxIndexed, dup, err)
	}
	if _, dup, err := s.AddReport(ctx, r, arrival.Source{Submitter: submitter}); err != nil || !dup {
		t.Errorf("the same report again: dup %v, %v", dup, err)
	}
	back, _, err := s.Report(ctx, key)
	if err != nil || back.OrganizationName != org || back.ReportID != id || back.Policies[0].Details[0].ResultType != typ {
		t.Errorf("read back: %v", err)
	}
	rows, err := s.Failing(ctx, day(1))
	if err != nil || len(rows) != 1 || rows[0].FailedSessions != 3 {
		t.Errorf("Failing: %+v, %v", rows, err)
	}
	if _, _, err := s.AddReport(ctx, mkReport("Org", strings.Repeat("\x00", 266), 1), arrival.Source{}); err != nil {
		t.Errorf("266 NULs, 798 bytes as PostgreSQL stores them: %v", err)
	}
}

// TestEnginesDifferWithoutTheBound stores a 20 KB report-id past
// AddReport's check, as main did: SQLite takes it and PostgreSQL refuses
// it, which is why the check is there. PostgreSQL's error is told with
// its SQLSTATE first and its message cut, and the SQLSTATE survives the
// log line's cap when the caller quotes the whole report-id (as serve
// does); errors.As still finds the *pgconn.PgError.
func TestEnginesDifferWithoutTheBound(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	long := reporttest.Noise(20000)
	_, _, err := s.addChecked(ctx, mkReport("Org", long, 1, detail("192.0.2.1", "certificate-expired", 1)), arrival.Source{}, "org")
	if !onPostgres() {
		if err != nil {
			t.Fatalf("SQLite refused a 20 KB report-id: %v", err)
		}
		return
	}
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != "54000" {
		t.Fatalf("PostgreSQL: %v, want SQLSTATE 54000", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "SQLSTATE 54000: index row") || len(msg) > 200 {
		t.Errorf("error text %q", msg)
	}
	wrapped := fmt.Errorf("storing report %q: store: adding report %s from %s: %w", long, quoted(long), quoted("Org"), err)
	if line := neutral.Error(wrapped); !strings.Contains(line, "SQLSTATE 54000: index row") || len(line) > neutral.MaxLog {
		t.Errorf("log line lost the SQLSTATE: %s", line)
	}

	// A server message that quotes the input is cut, its code kept.
	var n int64
	err = s.classify(s.db.QueryRowContext(ctx, "SELECT CAST(? AS BIGINT)", long).Scan(&n))
	if msg := err.Error(); !strings.HasPrefix(msg, "SQLSTATE 22P02: invalid input syntax") || len(msg) > 200 || !errors.As(err, &pe) {
		t.Errorf("error text %q", msg)
	}
}
