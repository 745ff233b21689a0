package filter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// BenchmarkFilter measures one message through the filter, the SQLite
// write included (a duplicate after the first round, as when a report is
// delivered twice).
func BenchmarkFilter(b *testing.B) {
	raw, err := os.ReadFile("testdata/two-reports.eml")
	if err != nil {
		b.Fatal(err)
	}
	st := storetest.Open(b)
	opt := Options{Now: fixedNow, Record: func() (Recorder, error) { return st, nil }}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilterBomb measures the refusal of a message carrying a 1 GiB
// gzip bomb.
func BenchmarkFilterBomb(b *testing.B) {
	raw := bombMessage(b, 1<<30)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, Options{Now: fixedNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// detailsMessage is a report message with n failure details, each from
// its own address.
func detailsMessage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"organization-name":"Big","date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},"report-id":"big",` +
		`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":1},"failure-details":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"result-type":"certificate-expired","sending-mta-ip":"10.%d.%d.%d","receiving-mx-hostname":"mx%d.example.com","failed-session-count":%d}`,
			i>>16&255, i>>8&255, i&255, i%3, 1+i%7)
	}
	b.WriteString("]}]}")
	return wrapJSON("big.json", []byte(b.String()))
}

// BenchmarkFilterDetails measures the filter on reports of growing size,
// the SQLite write included (a duplicate after the first round): the cost
// per detail should stay flat.
func BenchmarkFilterDetails(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 50000} {
		b.Run(fmt.Sprintf("details=%d", n), func(b *testing.B) {
			raw := detailsMessage(n)
			st := storetest.Open(b)
			opt := Options{Now: fixedNow, Record: func() (Recorder, error) { return st, nil }}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/detail")
		})
	}
}

// BenchmarkFilterFoldedHeader measures a message whose header is one field
// folded over many lines: linear in the size (ns/byte flat).
func BenchmarkFilterFoldedHeader(b *testing.B) {
	for _, kb := range []int{150, 300, 600} {
		b.Run(fmt.Sprintf("kb=%d", kb), func(b *testing.B) {
			raw := append([]byte("X-Folded: a\r\n"+strings.Repeat(" folded line\r\n", kb<<10/14)), detailsMessage(10)...)
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, Options{Now: fixedNow}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
