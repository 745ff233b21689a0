package dmarc

import (
	"bytes"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// benchReport is a generated aggregate report of about 1 MB: 2,000
// records of one DKIM and one SPF result each.
func benchReport(b *testing.B) []byte {
	data := reportXML(2000)
	if len(data) < 900_000 || len(data) > 1_200_000 {
		b.Fatalf("generated report is %d bytes, want about 1 MB", len(data))
	}
	return data
}

// BenchmarkParse parses the 1 MB report from XML.
func BenchmarkParse(b *testing.B) {
	data := benchReport(b)
	benchParse(b, data, data)
}

// BenchmarkParseGzip parses the same report gzip-compressed, as it
// arrives.
func BenchmarkParseGzip(b *testing.B) {
	data := benchReport(b)
	packed := reporttest.Gzip(b, data)
	benchParse(b, data, packed)
	b.ReportMetric(float64(len(packed)), "gzip-bytes")
}

// benchParse parses input, the report data as it is read, each round;
// the throughput counts the bytes of XML.
func benchParse(b *testing.B, data, input []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rep, err := Parse(bytes.NewReader(input), Limits{})
		if err != nil || len(rep.Records) != 2000 {
			b.Fatalf("%v", err)
		}
	}
}
