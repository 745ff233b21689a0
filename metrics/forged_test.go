package metrics

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// Issue 17, item 11: forged reports cannot bend the metrics.

// labelValues lists the values of label name in the family.
func labelValues(mf *dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				out[l.GetValue()] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestForgedReportersTakeNoSlot: Google reports daily, signed; eleven
// unsigned reports naming "Microsoft Corporation" and ten made-up
// organizations, their ranges ending in 2099, are stored now. Google
// keeps its own series with its real time; no forged name becomes a
// label; the forgeries count under "unauthenticated" in the session
// gauges and in the last-report series, where their ends in 2099 are not
// believed.
func TestForgedReportersTakeNoSlot(t *testing.T) {
	st := storetest.Open(t)
	for d := 5; d >= 1; d-- {
		fill(t, st, now.Add(-time.Duration(d)*24*time.Hour+time.Hour), 1, "Google Inc.")
	}
	forged := []string{"Microsoft Corporation"}
	for i := range 10 {
		forged = append(forged, fmt.Sprintf("Forged%02d", i))
	}
	fillFrom(t, st, now.Add(-time.Hour), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), 7, false, forged...)
	// And the same names again, dated yesterday: believed, still not
	// a name of their own.
	fillFrom(t, st, now.Add(-2*time.Hour), now.Add(-30*time.Hour), 0, false, forged...)
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	last := labelValues(mfs["tlsrpt_reporter_last_report_timestamp_seconds"], "reporter")
	want := now.Add(-24*time.Hour + time.Hour - 12*time.Hour - time.Second)
	yesterday := now.Add(-6*time.Hour - time.Second)
	if len(last) != 2 || last["google.example"] != float64(want.Unix()) || last[Unauthenticated] != float64(yesterday.Unix()) {
		t.Errorf("last report series %v, want google.example at %d and %s at %d", last, want.Unix(), Unauthenticated, yesterday.Unix())
	}
	sessions := labelValues(mfs["tlsrpt_failed_sessions"], "reporter")
	if len(sessions) != 2 || sessions[Unauthenticated] != 77 || sessions["google.example"] != 1 {
		t.Errorf("failed sessions by reporter %v, want google.example 1 and %s 77", sessions, Unauthenticated)
	}
}

// TestLabelsNeverCollide: names that normalise alike ("Google Inc. ",
// "GOOGLE INC."), the reserved words as names ("other", "unauthenticated",
// signed or not), domains in any case with or without the root dot, and a
// hundred made-up result-types make one series each, and every
// result_type label is a registry value or "other". The scrape fails on
// two series with the same labels.
func TestLabelsNeverCollide(t *testing.T) {
	st := storetest.Open(t)
	st.SetClock(func() time.Time { return now.Add(-time.Hour) })
	start := now.Add(-30 * time.Hour)
	var types []string
	for i := range 100 {
		types = append(types, fmt.Sprintf("made-up-%d", i))
	}
	types = append(types, "Certificate-Expired", "certificate-expired ", "other", Unauthenticated)
	add := func(org, id, domain string, src arrival.Source, n int) {
		var ds []report.FailureDetail
		for _, ty := range types[len(types)-n:] {
			ds = append(ds, report.FailureDetail{ResultType: ty, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailedSessions: 1})
		}
		r := &report.Report{OrganizationName: org, ReportID: id, Start: start, End: start.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: domain, Successful: 10, Failed: int64(len(ds)), Details: ds}}}
		if _, _, err := st.AddReport(context.Background(), r, src); err != nil {
			t.Fatal(err)
		}
	}
	signedBy := func(d string) arrival.Source {
		return arrival.Source{Transport: "mail", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: d}}
	}
	domains := []string{"example.net", "Example.NET.", " example.net", "other", "Other."}
	for i, org := range []string{"Google Inc. ", "Google Inc.", "GOOGLE  INC.", "other", "Other ", Unauthenticated, "~other"} {
		add(org, fmt.Sprint("u", i), domains[i%len(domains)], arrival.Source{Transport: "https"}, len(types))
		add(org, fmt.Sprint("s", i), domains[i%len(domains)], signedBy([]string{"google.com", "Google.com", "other", Unauthenticated, "~other", "Other.", "x"}[i]), len(types))
	}
	// More signed reporters than MaxReporters, and more domains than
	// MaxDomains, with fewer sessions, so that "other" series exist
	// beside the names.
	for i := range MaxReporters + MaxDomains {
		add("Filler", fmt.Sprint("f", i), fmt.Sprintf("d%02d.example", i), signedBy(fmt.Sprintf("filler%02d.example", i)), 1)
	}
	c := NewCollector(st, "")
	c.now = func() time.Time { return now }
	mfs := scrape(t, c)
	for ty := range labelValues(mfs["tlsrpt_failed_sessions"], "result_type") {
		if ty != Other && !rfc8460Types[ty] {
			t.Errorf("result_type %q is neither a registry value nor %q", ty, Other)
		}
	}
	reps := labelValues(mfs["tlsrpt_failed_sessions"], "reporter")
	for _, want := range []string{"google.com", "~other", "~unauthenticated", "~~other", "x", Unauthenticated} {
		if _, ok := reps[want]; !ok {
			t.Errorf("reporter %q missing: %v", want, reps)
		}
	}
	doms := labelValues(mfs["tlsrpt_sessions"], "policy_domain")
	for _, want := range []string{"example.net", "~other", Other} {
		if _, ok := doms[want]; !ok {
			t.Errorf("policy domain %q missing: %v", want, doms)
		}
	}
}

// TestLabel: normalised, and reserved words escaped so that no name
// passes for one and distinct names stay distinct.
func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		" Google  Inc. ": "google inc", "Example.NET.": "example.net", "other": "~other", " OTHER ": "~other",
		"unauthenticated": "~unauthenticated", "~other": "~~other", "~": "~~", "a\nb": `a\nb`,
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
	if Label("other") == Other || Label("unauthenticated") == Unauthenticated {
		t.Error("a reserved word passes for itself")
	}
}

// TestBackdatedReportersTakeNoSlot (a review found this attack): ten
// cheap signed domains each send 8 one-day reports at once, dated over
// the past 8 days; google.com reports once a day for 3 days. Without an
// allowlist, the ten do not outrank google.com, because days are counted
// by when reports were received, not by the dates they claim; with the
// built-in allowlist, google.com keeps its series even against ten
// domains patient enough to send one report a day for 5 days.
func TestBackdatedReportersTakeNoSlot(t *testing.T) {
	day := now.Truncate(24 * time.Hour)
	for _, tc := range []struct {
		name    string
		patient bool // the cheap domains send one report a day, 5 days
		allowed bool // the built-in allowlist is used
	}{
		{"backdated at once, no allowlist", false, false},
		{"backdated at once, the built-in allowlist", false, true},
		{"one a day, the built-in allowlist", true, true},
	} {
		st := storetest.Open(t)
		n := 0
		store1 := func(receivedAt, start time.Time, id string) {
			st.SetClock(func() time.Time { return receivedAt })
			defer st.SetClock(nil)
			n++
			r := &report.Report{OrganizationName: id, ReportID: fmt.Sprint(n), Start: start, End: start.Add(24*time.Hour - time.Second),
				Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 100}}}
			src := arrival.Source{Transport: "mail", Submitter: id, Received: receivedAt,
				Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: id}}
			if _, _, err := st.AddReport(context.Background(), r, src); err != nil {
				t.Fatal(err)
			}
		}
		for d := 3; d >= 1; d-- {
			store1(day.Add(-time.Duration(d)*24*time.Hour+8*time.Hour), day.Add(-time.Duration(d+1)*24*time.Hour), "google.com")
		}
		for i := range MaxReporters {
			id := fmt.Sprintf("cheap%02d.example", i)
			for d := 1; d <= 8; d++ {
				at := now.Add(-time.Hour)
				if tc.patient {
					if d > 5 {
						break
					}
					at = day.Add(-time.Duration(d-1)*24*time.Hour + time.Hour)
				}
				store1(at, day.Add(-time.Duration(d)*24*time.Hour), id)
			}
		}
		c := NewCollector(st, "")
		if !tc.allowed {
			c.WithAllowlist(nil)
		}
		c.now = func() time.Time { return now }
		last := labelValues(scrape(t, c)["tlsrpt_reporter_last_report_timestamp_seconds"], "reporter")
		if _, ok := last["google.com"]; !ok {
			t.Errorf("%s: google.com has no series of its own: %v", tc.name, last)
		}
		if _, ok := last[Other]; !ok || len(last) != MaxReporters+1 {
			t.Errorf("%s: %d series, want %d named and %q: %v", tc.name, len(last), MaxReporters, Other, last)
		}
	}
}
