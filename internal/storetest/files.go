package storetest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Create creates a store at path and closes it again, as a command finds
// a store made before it ran; it fails tb when the store cannot be made.
func Create(tb testing.TB, path string) {
	tb.Helper()
	st, err := store.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	st.Close()
}

// HoldExclusive holds the SQLite database at path with BEGIN EXCLUSIVE on
// a connection of the test's own, until release is called or tb ends.
func HoldExclusive(tb testing.TB, path string) (release func()) {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		tb.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
		}
	}
	tb.Cleanup(release)
	return release
}

// Failing is a report of "Reporter" whose one STS policy for Domain has
// Sessions sessions (3 when 0) failing with ResultType, received by MX
// when it is not empty, over Start to End (when zero: the day before At
// less an hour); it arrived by mail at At (the store's own clock when
// zero), authenticated as Auth says.
type Failing struct {
	ID, Domain, ResultType, MX string
	Sessions                   int64
	Start, End                 time.Time
	Auth                       arrival.Auth
	At                         time.Time
}

// Signed is the authentication of a report DKIM-signed by reporter.test.
var Signed = arrival.Auth{Authenticated: true, Method: "dkim", Domain: "reporter.test"}

// FailingReport is f as a report.
func FailingReport(f Failing) *report.Report {
	n := f.Sessions
	if n == 0 {
		n = 3
	}
	start, end := f.Start, f.End
	if start.IsZero() && end.IsZero() {
		start, end = f.At.Add(-24*time.Hour), f.At.Add(-time.Hour)
	}
	return &report.Report{OrganizationName: "Reporter", ReportID: f.ID, Start: start, End: end,
		Policies: []report.Policy{{Type: "sts", Domain: f.Domain, Failed: n,
			Details: []report.FailureDetail{{ResultType: f.ResultType, ReceivingMXHostname: f.MX, FailedSessions: n}}}}}
}

// Source is how f arrived: by mail, authenticated as f.Auth says.
func (f Failing) Source() arrival.Source { return arrival.Source{Transport: "mail", Auth: f.Auth} }

// AddFailing stores f in the store at path (created when missing), the
// store's clock at f.At unless it is zero; it fails tb when the store
// refuses it.
func AddFailing(tb testing.TB, path string, f Failing) {
	tb.Helper()
	st, err := store.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	if !f.At.IsZero() {
		st.SetClock(func() time.Time { return f.At })
	}
	if _, _, err := st.AddReport(context.Background(), FailingReport(f), f.Source()); err != nil {
		tb.Fatal(err)
	}
}
