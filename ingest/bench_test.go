package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// BenchmarkImportMaildir imports a Maildir of b.N report messages, each
// with its own report-id, into a real SQLite database.
func BenchmarkImportMaildir(b *testing.B) {
	js := mustRead(b, filepath.Join(corpusDir, "05-parsedmarc-google-failures-2024.json"))
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = wrapReport("r.json.gz", reporttest.Gzip(b, reporttest.WithReportID(b, js, fmt.Sprintf("bench-%d", i))))
	}
	dir := filepath.Join(b.TempDir(), "Maildir")
	writeMaildir(b, dir, msgs)
	st := storetest.Open(b)
	b.ResetTimer()
	sum, err := Import(context.Background(), st, []string{dir}, Options{})
	if err != nil || sum.Stored != b.N {
		b.Fatalf("%+v %v", sum, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}

// BenchmarkImportDMARC imports a 1 MB DMARC aggregate report file (2,000
// records) into a real SQLite database; each round a new report, written
// with the timer stopped.
func BenchmarkImportDMARC(b *testing.B) {
	st := storetest.Open(b)
	dir := b.TempDir()
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		id := fmt.Sprint("round-", round)
		path := filepath.Join(dir, id+".xml")
		write(b, path, reporttest.DMARC(id, 2000))
		b.StartTimer()
		sum, err := Import(context.Background(), st, []string{path}, Options{})
		if err != nil || sum.DMARCStored != 1 {
			b.Fatalf("%+v %v", sum, err)
		}
	}
}
