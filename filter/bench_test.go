package filter

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
)

// BenchmarkFilter measures one message through the filter, the SQLite
// write included (a duplicate after the first round, as when a report is
// delivered twice).
func BenchmarkFilter(b *testing.B) {
	raw, err := os.ReadFile("testdata/two-reports.eml")
	if err != nil {
		b.Fatal(err)
	}
	st := openStore(b)
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
