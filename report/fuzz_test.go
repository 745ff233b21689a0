package report

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// fuzzLimits keep fuzzing fast while still exercising the bounds.
var fuzzLimits = Limits{MaxMessage: 1 << 20, MaxDecompressed: 1 << 20, MaxReports: 8}

// seed adds every sample whose name has one of the suffixes.
func seed(f *testing.F, suffixes ...string) {
	for _, path := range sampleFiles(f) {
		for _, s := range suffixes {
			if strings.HasSuffix(path, s) {
				data, err := os.ReadFile(path)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
				break
			}
		}
	}
}

// checkReport asserts the invariants of every report handed out.
func checkReport(t *testing.T, r *Report) {
	t.Helper()
	if r == nil {
		t.Fatal("nil report without error")
	}
	if r.Policies == nil {
		t.Fatal("Policies is nil")
	}
	if r.TotalFailed() < 0 || r.TotalSuccessful() < 0 {
		t.Fatalf("negative totals %d, %d", r.TotalFailed(), r.TotalSuccessful())
	}
	for _, tm := range []time.Time{r.Start, r.End} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Fatalf("time %v not in UTC", tm)
		}
	}
	for _, p := range r.Policies {
		if p.Failed < 0 || p.Successful < 0 {
			t.Fatalf("negative count in %+v", p)
		}
		for _, d := range p.Details {
			if d.FailedSessions < 0 {
				t.Fatalf("negative failed-session-count in %+v", d)
			}
			for _, a := range []interface {
				Zone() string
				Is4In6() bool
			}{d.SendingMTAIP, d.ReceivingIP} {
				if a.Zone() != "" || a.Is4In6() {
					t.Fatalf("address with zone or IPv4-mapped: %+v", d)
				}
			}
		}
	}
}

func FuzzParseJSON(f *testing.F) {
	seed(f, ".json")
	f.Add([]byte(`{"report-id":"x","policies":[{"policy":{"policy-string":"[\"a\",\"b\"]","mx-host":"m"},"summary":{"total-failure-session-count":1e0},"failure-details":[{"sending-mta-ip":"::ffff:1.2.3.4","failed-session-count":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseJSON(bytes.NewReader(data), fuzzLimits)
		if err != nil {
			if r != nil {
				t.Fatal("report and error")
			}
			return
		}
		checkReport(t, r)
	})
}

func FuzzDecode(f *testing.F) {
	seed(f, ".json", ".gz", ".zip", ".bin")
	f.Fuzz(func(t *testing.T, data []byte) {
		reps, _ := Decode(data, "fuzz", "", fuzzLimits)
		for _, r := range reps {
			checkReport(t, r)
		}
	})
}

func FuzzReadMessage(f *testing.F) {
	seed(f, ".eml")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMessage(data, fuzzLimits)
		if m == nil {
			t.Fatal("nil Message")
		}
		reporttest.CheckFounds(t, m.Found, err, fuzzLimits.MaxReports, func(r *Report) { checkReport(t, r) })
		if m.Failed() < 0 {
			t.Fatal("negative Failed")
		}
	})
}
