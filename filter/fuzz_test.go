package filter

import (
	"bytes"
	"context"
	"testing"

	"github.com/tlsrpt/tlsrpt/report"
)

// FuzzFilter checks that no input makes the filter panic, fail or lose
// bytes: the output is always the input plus the header and the summary,
// placed the way the edit mode allows.
func FuzzFilter(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var out bytes.Buffer
		opt := Options{Now: fixedNow, Limits: report.Limits{MaxDecompressed: 1 << 20}}
		res, err := Run(context.Background(), bytes.NewReader(raw), &out, opt)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		checkPreserved(t, raw, out.Bytes(), res)
	})
}
