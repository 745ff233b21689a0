package cmdtest

import (
	"context"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Signed is the authentication of a report DKIM-signed by reporter.test.
var Signed = arrival.Auth{Authenticated: true, Method: "dkim", Domain: "reporter.test"}

// Failure is a report by "Reporter" of one sts policy whose sessions all
// failed, in one failure detail: what AddFailure stores.
type Failure struct {
	ID, Domain, ResultType string
	MX                     string // its receiving-mx-hostname, "" for none
	Sessions               int64  // its failed sessions
	Start, End             time.Time
	Auth                   arrival.Auth // zero: not authenticated
	Received               time.Time    // when the store takes it; zero: now
}

// AddFailure stores f in the database db, creating it, by mail.
func AddFailure(t testing.TB, db string, f Failure) {
	t.Helper()
	FillDB(t, db, func(st *store.Store) {
		if !f.Received.IsZero() {
			st.SetClock(func() time.Time { return f.Received })
		}
		r := &report.Report{OrganizationName: "Reporter", ReportID: f.ID, Start: f.Start, End: f.End,
			Policies: []report.Policy{{Type: "sts", Domain: f.Domain, Failed: f.Sessions,
				Details: []report.FailureDetail{{ResultType: f.ResultType, ReceivingMXHostname: f.MX, FailedSessions: f.Sessions}}}}}
		if _, _, err := st.AddReport(context.Background(), r, arrival.Source{Transport: "mail", Auth: f.Auth}); err != nil {
			t.Fatal(err)
		}
	})
}

// AddDMARC stores the DMARC aggregate report r, as it arrived (src), in
// the database DB, creating it, as received at storedAt.
func (e *Env) AddDMARC(t testing.TB, storedAt time.Time, r *dmarc.Report, src arrival.Source) {
	t.Helper()
	e.Fill(t, func(st *store.Store) { dmarctest.Add(t, st, storedAt, r, src) })
}
