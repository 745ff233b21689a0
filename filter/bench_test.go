package filter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// BenchmarkFilter measures one message through the filter, the SQLite
// write included (a duplicate after the first round, as when a report is
// delivered twice).
func BenchmarkFilter(b *testing.B) {
	raw := readSample(b, "two-reports.eml")
	opt := storing(storetest.Open(b))
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
func detailsMessage(id string, n int) []byte {
	return wrapJSON("big.json", reporttest.Details(id, n))
}

// BenchmarkFilterDetails measures the filter on reports of growing size,
// the SQLite write included: each round is a new report (made with the
// timer stopped), so that every round stores all its details. The cost
// per detail should stay flat.
func BenchmarkFilterDetails(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 50000} {
		b.Run(fmt.Sprintf("details=%d", n), func(b *testing.B) {
			benchStoring(b, func(id string) []byte { return detailsMessage(id, n) }, func(_ Result, err error) {
				if err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/detail")
		})
	}
}

// benchStoring runs the filter on a new message each round, made by
// message for the round's report-id with the timer stopped, into one real
// SQLite store, so that every round stores its report; check judges what
// each run returned.
func benchStoring(b *testing.B, message func(id string) []byte, check func(Result, error)) {
	opt := storing(storetest.Open(b))
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		raw := message(fmt.Sprint("round-", round))
		b.StartTimer()
		check(Run(context.Background(), bytes.NewReader(raw), io.Discard, opt))
	}
}

// BenchmarkFilterFoldedHeader measures a message whose header is one field
// folded over many lines: linear in the size (ns/byte flat).
func BenchmarkFilterFoldedHeader(b *testing.B) {
	for _, kb := range []int{150, 300, 600} {
		b.Run(fmt.Sprintf("kb=%d", kb), func(b *testing.B) {
			raw := append([]byte("X-Folded: a\r\n"+strings.Repeat(" folded line\r\n", kb<<10/14)), detailsMessage("folded", 10)...)
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Run(context.Background(), bytes.NewReader(raw), io.Discard, Options{Now: fixedNow}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
