package dmarc

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// fuzzLimits keep fuzzing fast while still exercising the bounds.
var fuzzLimits = Limits{MaxInput: 1 << 20, MaxDecompressed: 1 << 20, MaxRecords: 100, MaxElements: 10_000, MaxReports: 4}

// seedCorpus adds the corpus files, messages or not.
func seedCorpus(f *testing.F, messages bool) {
	for _, path := range corpusFiles(f) {
		if strings.HasSuffix(path, ".eml") != messages {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkReport asserts the invariants of every report handed out.
func checkReport(t *testing.T, r *Report) {
	t.Helper()
	m := r.Metadata
	if m.Reporter == "" || m.ReportID == "" {
		t.Fatalf("report without reporter or id: %+v", m)
	}
	if m.Begin.Location().String() != "UTC" || m.End.Location().String() != "UTC" {
		t.Fatalf("times not in UTC: %v %v", m.Begin, m.End)
	}
	if r.Records == nil || len(r.Records) > fuzzLimits.MaxRecords {
		t.Fatalf("%d records", len(r.Records))
	}
	if r.Policy.Pct < -1 || r.Policy.Pct > 100 {
		t.Fatalf("pct %d", r.Policy.Pct)
	}
	for _, rec := range r.Records {
		a := rec.SourceIP
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("source_ip %v", a)
		}
		if rec.Count < 0 || rec.Count > MaxCount {
			t.Fatalf("count %d", rec.Count)
		}
		for _, e := range []string{rec.Disposition, rec.DKIM, rec.SPF, rec.HeaderFrom} {
			if e != strings.ToLower(strings.TrimSpace(e)) {
				t.Fatalf("value %q not normalised", e)
			}
		}
	}
	if r.Failed() < 0 || r.Failed() > r.Messages() {
		t.Fatalf("failed %d of %d", r.Failed(), r.Messages())
	}
}

func FuzzParse(f *testing.F) {
	seedCorpus(f, false)
	f.Add(reportXML(2))
	f.Add(reporttest.Gzip(f, reportXML(2)))
	f.Add([]byte(withBody(`<Record><row><source_ip>::ffff:192.0.2.1</source_ip><count>1</count></row></Record>`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(bytes.NewReader(data), fuzzLimits)
		reporttest.OneLine(t, err)
		if (r == nil) == (err == nil) {
			t.Fatalf("report %v and error %v", r != nil, err)
		}
		if r != nil {
			checkReport(t, r)
		}
	})
}

func FuzzFromMessage(f *testing.F) {
	seedCorpus(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := FromMessage(bytes.NewReader(data), fuzzLimits)
		if m == nil {
			t.Fatal("nil Message")
		}
		reporttest.CheckFounds(t, m.Found, err, fuzzLimits.MaxReports, func(r *Report) { checkReport(t, r) })
	})
}
