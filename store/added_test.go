package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

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
