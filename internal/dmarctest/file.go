package dmarctest

import (
	"os"
	"testing"

	"github.com/tlsrpt/tlsrpt/dmarc"
)

// ParseFile reads the DMARC aggregate report of the file name (a sample of
// a corpus) with dmarc's default limits; it fails tb when it cannot.
func ParseFile(tb testing.TB, name string) *dmarc.Report {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := dmarc.Parse(f, dmarc.Limits{})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return r
}
