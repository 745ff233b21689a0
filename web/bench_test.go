package web

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// BenchmarkPageYear renders the dashboard over a year of reports: 10
// reporters × 365 days × 55 failure details (200,750 detail rows, 20,000
// addresses), the year the scale figures of docs/performance.md use. The
// page must answer within a second.
//
//	go test ./web -run '^$' -bench PageYear -benchtime 5x
func BenchmarkPageYear(b *testing.B) {
	st := storetest.Open(b)
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
		for r := 0; r < reporters; r++ {
			fs := make([]storetest.Failure, n)
			for i := range fs {
				k := rng.IntN(pool)
				s := int64(1 + rng.IntN(20))
				fs[i] = storetest.Failure{IP: netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)}).String(), Type: types[rng.IntN(len(types))],
					Sessions: s, MX: "mx1.example.com"}
			}
			rep := storetest.TLS(fmt.Sprintf("Reporter %02d", r), fmt.Sprintf("%d-%d", d, r), start, storetest.Policy("example.com", 1000, fs...))
			storetest.AddTLS(b, st, start.Add(30*time.Hour), rep, arrival.Source{Transport: "import"})
		}
	}
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
