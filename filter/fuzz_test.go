package filter

import (
	"bytes"
	"context"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/report"
)

// FuzzFilter checks that no input makes the filter panic, fail or lose
// bytes: the output is always the input plus the header and the summary,
// placed the way the edit mode allows, with the input's MIME structure
// (every part that is not text/plain byte for byte, in order), whatever
// strings the reports carry, TLS reports or DMARC reports.
func FuzzFilter(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s.raw)
	}
	raw := readSample(f, "mt-tlsrpt-gzip.eml")
	f.Add(wrapJSONBoundary("hostile.json", hostileJSON("BOUNDARY"), "BOUNDARY"))
	f.Add(append([]byte("From r@example.net Mon Nov 23 10:00:00 2026\n"), raw...))
	f.Add(append([]byte("TLS-Report-Has-Failures: 0\r\n"), raw...))
	f.Add(append([]byte("From: r@example.net\nContent-Type: application/tlsrpt+gzip\n\n"), reporttest.Gzip(f, hostileJSON("x"))...))
	for _, s := range dmarcSamples(f) {
		f.Add(s.raw)
	}
	f.Add(append([]byte("DMARC-Report-Has-Failures: 0\r\n"), wrapDMARC("r.xml", []byte(dmarcXML("o", "a@o.example", "1",
		dmarcRecord("192.0.2.1", 2, "fail", "fail", "--b"))), "b")...))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var out bytes.Buffer
		opt := Options{Now: fixedNow, Limits: report.Limits{MaxDecompressed: 1 << 20}}
		res, err := Run(context.Background(), bytes.NewReader(raw), &out, opt)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		checkPreserved(t, raw, out.Bytes(), res)
		checkStructure(t, raw, out.Bytes())
	})
}
