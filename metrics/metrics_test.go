package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

var now = time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)

// fill stores one report per reporter, stored at storedAt, its range
// ending 12 hours before, signed by the reporter's identity (see
// identity): example.net with 100 successful and failed sessions from
// 192.0.2.1, certificate-expired.
func fill(t *testing.T, st *store.Store, storedAt time.Time, failed int64, reporters ...string) {
	t.Helper()
	fillFrom(t, st, storedAt, storedAt.Add(-36*time.Hour), failed, true, reporters...)
}

// identity is the domain that signs org's reports in these tests: its
// first word, lower case, under .example.
func identity(org string) string {
	return strings.ToLower(strings.Fields(org + " x")[0]) + ".example"
}

// fillFrom stores reports as fill does, their range starting at start,
// signed or not (claiming the identity's domain as submitter).
func fillFrom(t *testing.T, st *store.Store, storedAt, start time.Time, failed int64, signed bool, reporters ...string) {
	t.Helper()
	st.SetClock(func() time.Time { return storedAt })
	defer st.SetClock(nil)
	for i, org := range reporters {
		r := &report.Report{OrganizationName: org, ReportID: fmt.Sprintf("%s-%d", storedAt, i), Start: start, End: start.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 100, Failed: failed,
				Details: []report.FailureDetail{{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailedSessions: failed}}}}}
		src := arrival.Source{Transport: "mail", Submitter: identity(org)}
		if signed {
			src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: identity(org)}
		}
		if _, _, err := st.AddReport(context.Background(), r, src); err != nil {
			t.Fatal(err)
		}
	}
}

// scrape serves the collector on a real listener, through a registry
// that fails the scrape on duplicate series and invalid values, and
// parses the exposition with Prometheus' own text parser.
func scrape(t *testing.T, c promtext.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := promtext.NewRegistry()
	reg.Register(c)
	srv := httptest.NewServer(reg.Handler(promtext.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return mfs
}

// value finds the gauge with the given labels.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	if mf.GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s is %v, want a gauge", name, mf.GetType())
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestCollector(t *testing.T) {
	st := storetest.Open(t)
	fill(t, st, now.Add(-48*time.Hour), 9, "Google Inc.", "Quiet Corp") // too old for the 24h gauges
	fill(t, st, now.Add(-time.Hour), 3, "Google Inc.", "Microsoft Corporation")
	if err := st.SetSetting(context.Background(), WaitingKey("mx1"), "2"); err != nil {
		t.Fatal(err)
	}
	c := NewCollector(st, "mx1")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tlsrpt_sessions", map[string]string{"policy_domain": "example.net", "reporter": "google.example", "result": "successful"}, 100},
		{"tlsrpt_sessions", map[string]string{"policy_domain": "example.net", "reporter": "google.example", "result": "failed"}, 3},
		{"tlsrpt_failed_sessions", map[string]string{"policy_domain": "example.net", "reporter": "microsoft.example", "result_type": "certificate-expired"}, 3},
		{"tlsrpt_reporter_last_report_timestamp_seconds", map[string]string{"reporter": "quiet.example"}, float64(now.Add(-60*time.Hour - time.Second).Unix())},
		{"tlsrpt_reporter_last_report_timestamp_seconds", map[string]string{"reporter": "google.example"}, float64(now.Add(-13*time.Hour - time.Second).Unix())},
		{"tlsrpt_redeem_waiting_addresses", nil, 2},
		{"tlsrpt_store_up", nil, 1},
	} {
		got, ok := value(t, mfs, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if _, ok := value(t, mfs, "tlsrpt_sessions", map[string]string{"reporter": "quiet.example"}); ok {
		t.Error("a report stored two days ago counted in the 24h gauges")
	}
}

// TestBoundedLabels floods the store with reporters and hostile names: at
// most MaxReporters names plus "other", every value valid and never
// negative.
func TestBoundedLabels(t *testing.T) {
	st := storetest.Open(t)
	var orgs []string
	for i := 0; i < 3*MaxReporters; i++ {
		orgs = append(orgs, fmt.Sprintf("Reporter%02d", i))
	}
	orgs = append(orgs, "Evil\x1b[2J\n# HELP forged", "bad \xff utf8")
	fill(t, st, now.Add(-time.Hour), store.MaxCount, orgs...)
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	for _, name := range []string{"tlsrpt_sessions", "tlsrpt_reporter_last_report_timestamp_seconds"} {
		reporters := map[string]bool{}
		for _, m := range mfs[name].Metric {
			for _, l := range m.Label {
				if l.GetName() == "reporter" {
					reporters[l.GetValue()] = true
				}
			}
			if v := m.GetGauge().GetValue(); v < 0 {
				t.Errorf("%s: negative value %v", name, v)
			}
		}
		if len(reporters) > MaxReporters+1 || !reporters[Other] {
			t.Errorf("%s: %d reporter labels (want at most %d and %q): %v", name, len(reporters), MaxReporters+1, Other, reporters)
		}
	}
	if v, _ := value(t, mfs, "tlsrpt_sessions", map[string]string{"reporter": Other, "result": "failed"}); v <= 0 || v > store.MaxSum {
		t.Errorf("other's failed sessions %v, want in (0, MaxSum]", v)
	}
}

// TestStoreDown reports tlsrpt_store_up 0 instead of failing the scrape.
func TestStoreDown(t *testing.T) {
	st := storetest.Open(t)
	c := NewCollector(st, "")
	st.Close()
	mfs := scrape(t, c)
	if v, ok := value(t, mfs, "tlsrpt_store_up", nil); !ok || v != 0 {
		t.Errorf("tlsrpt_store_up = %v (%v) with the store closed, want 0", v, ok)
	}
}

// TestRedeemedOutcomes: google.example names .1 and .2, both are unbanned,
// then a signed report names .2 again and not .1, and a forged one names
// .1: one confirmed, one still-failing, and every outcome is present.
func TestRedeemedOutcomes(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	day := func(d int) time.Time { return now.Add(time.Duration(d-10) * 24 * time.Hour) }
	storetest.AddGoogleReport(t, st, "before", day(5), true, "192.0.2.1", "192.0.2.2")
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		if _, err := st.LogAction(ctx, store.Action{Time: day(6).Add(12 * time.Hour), IP: netip.MustParseAddr(ip), Backend: "fail2ban", Kind: "unban", Target: "postfix", Applied: true, OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	storetest.AddGoogleReport(t, st, "after", day(7), true, "192.0.2.2")
	storetest.AddGoogleReport(t, st, "forged", day(8), false, "192.0.2.1")
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	want := map[string]float64{"banned-again": 0, "still-failing": 1, "confirmed": 1, "awaiting": 0, "inconclusive": 0}
	for o, w := range want {
		if got, ok := value(t, mfs, "tlsrpt_redeemed_addresses", map[string]string{"outcome": o}); !ok || got != w {
			t.Errorf("tlsrpt_redeemed_addresses{outcome=%q} = %v (found %v), want %v", o, got, ok, w)
		}
	}
	if n := len(mfs["tlsrpt_redeemed_addresses"].GetMetric()); n != 5 {
		t.Errorf("%d outcome series, want 5", n)
	}
}

// TestWithOutcomes: the gauges count the outcomes the dashboard judges
// (banned-again from its ban cache), every outcome still present.
func TestWithOutcomes(t *testing.T) {
	st := storetest.Open(t)
	c := NewCollector(st, "").WithOutcomes(func(context.Context) ([]assess.Outcome, error) {
		return []assess.Outcome{{Outcome: assess.OutcomeBannedAgain}, {Outcome: assess.OutcomeBannedAgain}, {Outcome: assess.OutcomeAwaiting}}, nil
	})
	mfs := scrape(t, c)
	for o, w := range map[string]float64{"banned-again": 2, "still-failing": 0, "confirmed": 0, "awaiting": 1, "inconclusive": 0} {
		if got, ok := value(t, mfs, "tlsrpt_redeemed_addresses", map[string]string{"outcome": o}); !ok || got != w {
			t.Errorf("tlsrpt_redeemed_addresses{outcome=%q} = %v (found %v), want %v", o, got, ok, w)
		}
	}
}
