package filter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// BenchmarkFilterDMARC measures a mail carrying a 1 MB DMARC aggregate
// report (2,000 records, gzip-compressed) through the filter, the SQLite
// write included: each round is a new report (made with the timer
// stopped), so that every round stores its 2,000 records.
func BenchmarkFilterDMARC(b *testing.B) {
	benchStoring(b, func(id string) []byte { return reporttest.DMARCMail(id, reporttest.DMARC(id, 2000)) }, func(res Result, err error) {
		if err != nil || !res.DMARC || res.Reports != 1 {
			b.Fatalf("%+v %v", res, err)
		}
		if res.Stored != 1 {
			b.Fatalf("not stored: %q", res.Problems)
		}
	})
}

// BenchmarkFilterDMARCPacked measures the refusal of a 1 MB mail whose
// gzip-packed report holds 120,000 records, past DefaultDMARCRecords.
func BenchmarkFilterDMARCPacked(b *testing.B) {
	raw := reporttest.DMARCMail("packed", reporttest.DMARC("packed", 120_000))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, Options{Now: fixedNow})
		if err != nil || !res.DMARC || res.Reports != 0 {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// BenchmarkFilterDMARCRecords is BenchmarkFilterDMARC at 500, 2,000 and
// 8,000 records, stored: the cost per record must stay flat (linear
// growth with the report).
func BenchmarkFilterDMARCRecords(b *testing.B) {
	for _, n := range []int{500, 2000, 8000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			benchStoring(b, func(id string) []byte { return reporttest.DMARCMail(id, reporttest.DMARC(id, n)) }, func(res Result, err error) {
				if err != nil || !res.DMARC || res.Stored != 1 {
					b.Fatalf("%+v %v", res, err)
				}
			})
		})
	}
}
