package web

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestReportersReceivedTime: a report received on 18 November and
// stored (imported) on 20 November is shown received on the 18th, in
// /api/v1/reporters' last_received and in the page's "Last report
// received"; last_stored keeps the store's time.
func TestReportersReceivedTime(t *testing.T) {
	st := storetest.Open(t)
	received := time.Date(2026, 11, 18, 8, 0, 0, 0, time.UTC)
	stored := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	start := time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)
	src := arrival.Source{Transport: "import", Submitter: "mail.example", Received: received,
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "mail.example"}}
	storetest.AddTLS(t, st, stored, storetest.TLS("Example Mail", "r1", start, storetest.Policy("example.net", 9)), src)
	srv := serveDashboard(t, Options{Store: st})
	reps := getJSON[[]map[string]any](t, srv.URL+"/api/v1/reporters")
	if len(reps) != 1 {
		t.Fatalf("reporters: %v, want one", reps)
	}
	if got := reps[0]["last_received"]; got != "2026-11-18T08:00:00Z" {
		t.Errorf("last_received %v, want 2026-11-18T08:00:00Z (when it was received)", got)
	}
	if got := reps[0]["last_stored"]; got != "2026-11-20T12:00:00Z" {
		t.Errorf("last_stored %v, want 2026-11-20T12:00:00Z", got)
	}
	_, page := get(t, srv.URL+"/")
	if !strings.Contains(page, "<td>2026-11-18 08:00 UTC</td>") || strings.Contains(page, "2026-11-20 12:00 UTC") {
		t.Errorf("the page's reporters table does not show the received time 2026-11-18 08:00 UTC")
	}
}
