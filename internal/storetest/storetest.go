// Package storetest gives tests a real SQLite store in a temporary
// directory, closed when the test ends.
package storetest

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Open opens a new store in a file of tb's temporary directory and closes
// it when tb ends; it fails tb when the store cannot be opened.
func Open(tb testing.TB) *store.Store {
	tb.Helper()
	return OpenAt(tb, filepath.Join(tb.TempDir(), "tlsrpt.db"))
}

// AddGoogleReport stores a one-day report of "Google Inc." (submitter
// google.example) from start, for example.net with 100 successful
// sessions, naming each of ips with 2 sessions failing
// starttls-not-supported; signed makes it DKIM-authenticated by
// google.example. It fails tb when the store refuses it.
func AddGoogleReport(tb testing.TB, st *store.Store, id string, start time.Time, signed bool, ips ...string) {
	tb.Helper()
	r := &report.Report{OrganizationName: "Google Inc.", ReportID: id, Start: start, End: start.Add(24*time.Hour - time.Second),
		Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 100}}}
	for _, ip := range ips {
		r.Policies[0].Details = append(r.Policies[0].Details, report.FailureDetail{ResultType: "starttls-not-supported", SendingMTAIP: netip.MustParseAddr(ip), FailedSessions: 2})
		r.Policies[0].Failed += 2
	}
	src := arrival.Source{Transport: "mail", Submitter: "google.example"}
	if signed {
		src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.example"}
	}
	if _, _, err := st.AddReport(tb.Context(), r, src); err != nil {
		tb.Fatal(err)
	}
}
