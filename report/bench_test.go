package report

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkReadMessage(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(corpusDir(b), "01-mox-microsoft-2023.eml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ReadMessage(raw, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBomb measures refusing a 1 GiB gzip bomb under the
// default 16 MiB limit.
func BenchmarkDecodeBomb(b *testing.B) {
	bomb := gibBomb(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bomb, "bomb.json.gz", "", Limits{}); !errors.Is(err, ErrTooLarge) {
			b.Fatalf("error %v, want ErrTooLarge", err)
		}
	}
	b.ReportMetric(float64(len(bomb)), "bomb-bytes")
}
