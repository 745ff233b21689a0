package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// BenchmarkPageYear renders the dashboard over a year of reports: 10
// reporters × 365 days × 55 failure details (200,750 detail rows, 20,000
// addresses), the year the scale figures of docs/performance.md use. The
// page must answer within a second.
//
//	go test ./web -run '^$' -bench PageYear -benchtime 5x
func BenchmarkPageYear(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "year.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	yearOfReports(b, st, 10, 365, 55, 20000)
	yearOfDMARC(b, st, 10, 365, 20)
	h, err := New(Options{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = "localhost" // a name the dashboard answers to
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET /: %d %s", rec.Code, rec.Body.String())
		}
	}
}

// yearOfReports stores reporters × days reports of n details each, from a
// pool of addresses, each stored the day after its range.
func yearOfReports(b *testing.B, st *store.Store, reporters, days, n, pool int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"starttls-not-supported", "certificate-expired", "validation-failure", "certificate-host-mismatch"}
	last := now.Truncate(24 * time.Hour)
	for d := days; d >= 1; d-- {
		start := last.AddDate(0, 0, -d)
		st.SetClock(func() time.Time { return start.Add(30 * time.Hour) })
		for r := 0; r < reporters; r++ {
			p := report.Policy{Type: "sts", Domain: "example.com", Successful: 1000}
			for i := 0; i < n; i++ {
				k := rng.IntN(pool)
				s := int64(1 + rng.IntN(20))
				p.Details = append(p.Details, report.FailureDetail{ResultType: types[rng.IntN(len(types))],
					SendingMTAIP: netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)}), ReceivingMXHostname: "mx1.example.com", FailedSessions: s})
				p.Failed += s
			}
			rep := &report.Report{OrganizationName: fmt.Sprintf("Reporter %02d", r), ReportID: fmt.Sprintf("%d-%d", d, r),
				Start: start, End: start.Add(24*time.Hour - time.Second), Policies: []report.Policy{p}}
			if _, _, err := st.AddReport(context.Background(), rep, arrival.Source{Transport: "import"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	st.SetClock(nil)
}

// yearOfDMARC stores reporters × days signed DMARC reports of n records
// each, a quarter of them failing, from a pool of 2,000 addresses.
func yearOfDMARC(b *testing.B, st *store.Store, reporters, days, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	last := now.Truncate(24 * time.Hour)
	for d := days; d >= 1; d-- {
		start := last.AddDate(0, 0, -d)
		for r := 0; r < reporters; r++ {
			var recs []dmarctest.Rec
			for i := 0; i < n; i++ {
				k := rng.IntN(2000)
				recs = append(recs, dmarctest.Rec{IP: netip.AddrFrom4([4]byte{198, 19, byte(k >> 8), byte(k)}).String(), N: int64(1 + rng.IntN(50)), Pass: i%4 != 0})
			}
			rep := fmt.Sprintf("reporter%02d.example", r)
			dmarctest.Add(b, st, start.Add(30*time.Hour), dmarctest.Report(rep, fmt.Sprint(d), "example.com", start, recs...), dmarctest.Signed(rep))
		}
	}
}
