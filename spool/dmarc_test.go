package spool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// dmarcSample is a DMARC report read from the corpus.
func dmarcSample(t testing.TB) *dmarc.Report {
	t.Helper()
	f, err := os.Open("../dmarc/testdata/corpus/rfc9990-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := dmarc.Parse(f, dmarc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestOldSpoolFileIsTLS: a file written before spool files had a kind
// reads as a TLS report; a file of an unknown kind, or a DMARC kind
// without its report, is unreadable (renamed .bad by Drain).
func TestOldSpoolFileIsTLS(t *testing.T) {
	dir := t.TempDir()
	sp := Spool{Dir: dir}
	if err := sp.Add(sample("old"), src); err != nil {
		t.Fatal(err)
	}
	files, _ := sp.Files()
	b, _ := os.ReadFile(files[0])
	if bytes.Contains(b, []byte(`"kind"`)) || bytes.Contains(b, []byte(`"dmarc"`)) {
		t.Fatalf("a TLS spool file changed its format: %.200s", b)
	}
	e, err := read(files[0])
	if err != nil || e.Kind != "" || !reflect.DeepEqual(e.Report, sample("old")) {
		t.Fatalf("old format: %+v, %v", e, err)
	}
	for name, body := range map[string]string{
		"unknown": `{"version":1,"kind":"arf","report":{"report-id":"x"},"source":{}}`,
		"empty":   `{"version":1,"kind":"dmarc","report":{"report-id":"x"},"source":{}}`,
	} {
		p := filepath.Join(dir, name+suffix)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := read(p); err == nil {
			t.Errorf("%s: read as a report", name)
		}
	}
}

// TestDrainDMARC drains a DMARC report and a TLS report into a real
// database: both are stored, the spool is empty, a second copy is a
// duplicate.
func TestDrainDMARC(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	sp.AddDMARC(dmarcSample(t), src)
	sp.Add(sample("tls"), src)
	sp.AddDMARC(dmarcSample(t), src)
	d, err := sp.Drain(context.Background(), storetest.Open(t), 0)
	if err != nil || d.Stored != 2 || d.Dups != 1 || d.Bad != 0 {
		t.Fatalf("drained %+v, %v: want 2 stored, 1 duplicate", d, err)
	}
	if files, _ := sp.Files(); len(files) != 0 {
		t.Errorf("spool not empty: %v", files)
	}
}
