package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestDMARCMessages scrapes the DMARC messages of the last day through a
// registry and Prometheus' text parser: Google's signed reports
// count under google.com by policy domain and result; a report stored
// two days ago counts nowhere; an unsigned flood that claims Google's
// name and a hostile policy domain counts under "unauthenticated" and
// "other" alone, and none of its names becomes a label.
func TestDMARCMessages(t *testing.T) {
	st := storetest.Open(t)
	day := now.Add(-36 * time.Hour).Truncate(24 * time.Hour)
	g := dmarctest.Signed("google.com")
	dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report("google.com", "1", "example.net", day,
		dmarctest.Rec{IP: "192.0.2.1", N: 90, Pass: true}, dmarctest.Rec{IP: "192.0.2.2", N: 10}), g)
	dmarctest.Add(t, st, now.Add(-2*time.Hour), dmarctest.Report("google.com", "2", "Example.ORG.", day,
		dmarctest.Rec{IP: "192.0.2.1", N: 5, Pass: true}), g)
	dmarctest.Add(t, st, now.Add(-48*time.Hour), dmarctest.Report("google.com", "old", "example.net", day.AddDate(0, 0, -1),
		dmarctest.Rec{IP: "192.0.2.9", N: 1000}), g)
	for i := range 20 {
		dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report("google.com", fmt.Sprint("forged", i), fmt.Sprintf("evil%d.example\n# HELP x", i), day,
			dmarctest.Rec{IP: "203.0.113.1", N: 1000}), dmarctest.Unsigned("google.com"))
	}
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	for _, tc := range []struct {
		domain, reporter, result string
		want                     float64
	}{
		{"example.net", "google.com", "pass", 90},
		{"example.net", "google.com", "fail", 10},
		{"example.org", "google.com", "pass", 5},
		{"example.org", "google.com", "fail", 0},
		{Other, Unauthenticated, "fail", 20000},
		{Other, Unauthenticated, "pass", 0},
	} {
		v, ok := value(t, mfs, "tlsrpt_dmarc_messages", map[string]string{"policy_domain": tc.domain, "reporter": tc.reporter, "result": tc.result})
		if !ok || v != tc.want {
			t.Errorf("tlsrpt_dmarc_messages{%s,%s,%s} = %v (present %v), want %v", tc.domain, tc.reporter, tc.result, v, ok, tc.want)
		}
	}
	mf := mfs["tlsrpt_dmarc_messages"]
	if n := len(mf.GetMetric()); n != 6 {
		t.Errorf("%d DMARC series, want 6", n)
	}
	if r := labelValues(mf, "reporter"); len(r) != 2 {
		t.Errorf("reporter labels %v, want google.com and %s", r, Unauthenticated)
	}
	if d := labelValues(mf, "policy_domain"); len(d) != 3 {
		t.Errorf("policy_domain labels %v, want example.net, example.org and %s", d, Other)
	}
}

// TestDMARCBoundedLabels: more authenticated reporters and policy domains
// than the bounds: the biggest keep their names, the rest add up under
// "other", and the total is kept.
func TestDMARCBoundedLabels(t *testing.T) {
	st := storetest.Open(t)
	day := now.Add(-36 * time.Hour).Truncate(24 * time.Hour)
	total := 0.0
	for i := range MaxReporters + 5 {
		rep := fmt.Sprintf("r%02d.example", i)
		for j := range 2 {
			n := int64(100 - i)
			dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report(rep, fmt.Sprint(j), fmt.Sprintf("d%02d-%d.example", i, j), day,
				dmarctest.Rec{IP: "192.0.2.1", N: n}), dmarctest.Signed(rep))
			total += float64(n)
		}
	}
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mf := scrape(t, c)["tlsrpt_dmarc_messages"]
	reps, doms := labelValues(mf, "reporter"), labelValues(mf, "policy_domain")
	if len(reps) != MaxReporters+1 || reps[Other] == 0 || reps["r00.example"] != 200 {
		t.Errorf("reporter labels %v: want %d named and %s", reps, MaxReporters, Other)
	}
	if len(doms) != MaxDomains+1 || doms[Other] == 0 {
		t.Errorf("%d policy_domain labels, want %d named and %s", len(doms), MaxDomains, Other)
	}
	sum := 0.0
	for _, v := range reps {
		sum += v
	}
	if sum != total {
		t.Errorf("%v messages in the series, want %v", sum, total)
	}
}
