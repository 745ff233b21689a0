package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

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
