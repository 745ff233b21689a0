package store

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// month stores 30 days of reports ending the day before today (2026-11-30
// at 12:00): reporter "Alpha Mail" every day, "Beta Mail" for the first 25
// days only (quiet since five days). Each report has policy example.net
// (100 successful) with failures from 192.0.2.<day> (day sessions,
// certificate-expired, via mx1) and, for Alpha, policy example.org (50
// successful, 1 failed, validation-failure via mx2, from 198.51.100.1).
// Reports are stored at noon of the day after their range, signed by
// alpha.example and beta.example. It returns the clock's "now".
func month(t testing.TB, s *Store) time.Time {
	t.Helper()
	ctx := t.Context()
	first := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	defer func(f func() time.Time) { now = f }(now)
	for d := 0; d < 30; d++ {
		start := first.AddDate(0, 0, d)
		now = func() time.Time { return start.Add(36 * time.Hour) }
		for _, org := range []string{"Alpha Mail", "Beta Mail"} {
			if org == "Beta Mail" && d >= 25 {
				continue
			}
			ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(d + 1)})
			r := &report.Report{OrganizationName: org, ReportID: fmt.Sprintf("%s-%d", org, d), Start: start, End: start.Add(24*time.Hour - time.Second),
				Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 100, Failed: int64(d + 1),
					Details: []report.FailureDetail{{ResultType: "certificate-expired", SendingMTAIP: ip, ReceivingMXHostname: "mx1.example.net", FailedSessions: int64(d + 1)}}}}}
			if org == "Alpha Mail" {
				r.Policies = append(r.Policies, report.Policy{Type: "sts", Domain: "example.org", Successful: 50, Failed: 1,
					Details: []report.FailureDetail{{ResultType: "validation-failure", SendingMTAIP: netip.MustParseAddr("198.51.100.1"), ReceivingMXHostname: "mx2.example.org", FailedSessions: 1}}})
			}
			dom := strings.ToLower(strings.Fields(org)[0]) + ".example"
			src := arrival.Source{Transport: "mail", Submitter: dom, Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom}}
			if _, _, err := s.AddReport(ctx, r, src); err != nil {
				t.Fatal(err)
			}
		}
	}
	return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
}

func TestSessionStats(t *testing.T) {
	s := openTemp(t)
	month(t, s)
	ctx := t.Context()
	// Known totals: Alpha 30 days × (150 successful, d+1 + 1 failed),
	// Beta 25 days × (100, d+1).
	var wantSucc, wantFail int64 = 30*150 + 25*100, 0
	for d := 0; d < 30; d++ {
		wantFail += int64(d+1) + 1
		if d < 25 {
			wantFail += int64(d + 1)
		}
	}
	for _, by := range []Period{Day, Week, Month} {
		rows, err := s.SessionStats(ctx, time.Time{}, by, NoGroup)
		if err != nil {
			t.Fatal(err)
		}
		var succ, fail int64
		for _, r := range rows {
			succ += r.Successful
			fail += r.Failed
			switch by {
			case Week:
				if r.Start.Weekday() != time.Monday {
					t.Errorf("week starting %s, not a Monday", r.Start.Format(time.DateOnly))
				}
			case Month:
				if r.Start.Day() != 1 {
					t.Errorf("month starting %s", r.Start.Format(time.DateOnly))
				}
			}
		}
		if succ != wantSucc || fail != wantFail {
			t.Errorf("by %s: %d successful, %d failed; want %d, %d", by, succ, fail, wantSucc, wantFail)
		}
		if by == Day && len(rows) != 30 {
			t.Errorf("by day: %d rows, want 30", len(rows))
		}
		if by == Month && len(rows) != 1 {
			t.Errorf("by month: %d rows, want 1: %+v", len(rows), rows)
		}
	}
	rows, err := s.SessionStats(ctx, time.Time{}, Month, ByReporter)
	if err != nil || len(rows) != 2 || rows[0].Key != "alpha.example" || rows[0].Unauthenticated || rows[0].Successful != 30*150 || rows[1].Successful != 25*100 {
		t.Errorf("by reporter: %+v, %v", rows, err)
	}
	rows, err = s.SessionStats(ctx, time.Time{}, Month, ByMX)
	if err != nil || len(rows) != 2 || rows[0].Key != "mx1.example.net" || rows[1].Key != "mx2.example.org" || rows[1].Failed != 30 || rows[0].Successful != 0 {
		t.Errorf("by mx: %+v, %v", rows, err)
	}
	rows, err = s.SessionStats(ctx, time.Time{}, Day, ByResultType)
	if err != nil || len(rows) != 60 {
		t.Errorf("by result-type and day: %d rows, %v", len(rows), err)
	}
	// Reports ending on or after the 28th: days 28 to 30, Alpha only,
	// two domains each.
	rows, err = s.SessionStats(ctx, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Day, ByDomain)
	if err != nil || len(rows) != 6 || rows[0].Start.Day() != 28 || rows[0].Key != "example.net" {
		t.Errorf("since the 28th by domain: %+v, %v", rows, err)
	}
	if _, err := s.SessionStats(ctx, time.Time{}, "year", NoGroup); err == nil {
		t.Error("period year accepted")
	}
	if _, err := s.SessionStats(ctx, time.Time{}, Day, "ip"); err == nil {
		t.Error("group ip accepted")
	}
}

// TestSessionStatsHostileCounts keeps sums at MaxSum and never negative,
// whatever was written into the database.
func TestSessionStatsHostileCounts(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for i := 0; i < 3; i++ {
		r := mkReport("Org", fmt.Sprint(i), 3, detail("192.0.2.1", "certificate-expired", MaxCount))
		r.Policies[0].Successful = MaxCount
		if _, _, err := s.AddReport(ctx, r, arrival.Source{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.Exec(`UPDATE policies SET successful = 9223372036854775807, failed = -5`); err != nil {
		t.Fatal(err)
	}
	for _, g := range []Group{NoGroup, ByReporter, ByResultType} {
		rows, err := s.SessionStats(ctx, time.Time{}, Day, g)
		if err != nil || len(rows) != 1 {
			t.Fatalf("group %q: %+v, %v", g, rows, err)
		}
		r := rows[0]
		if r.Successful < 0 || r.Failed < 0 || r.Successful > MaxSum || r.Failed > MaxSum {
			t.Errorf("group %q: %+v out of [0, MaxSum]", g, r)
		}
	}
}

func TestReportersQuiet(t *testing.T) {
	s := openTemp(t)
	at := month(t, s)
	as, err := s.Reporters(t.Context())
	if err != nil || len(as) != 2 {
		t.Fatalf("reporters: %+v, %v", as, err)
	}
	alpha, beta := as[0], as[1]
	if alpha.Organization != "Alpha Mail" || alpha.Name() != "alpha.example" || !alpha.Authenticated || alpha.Reports != 30 || alpha.Days != 30 || beta.Reports != 25 {
		t.Errorf("activity: %+v %+v", alpha, beta)
	}
	if alpha.Quiet(at, 72*time.Hour) {
		t.Errorf("Alpha Mail reported yesterday, called quiet")
	}
	if !beta.Quiet(at, 72*time.Hour) {
		t.Errorf("Beta Mail silent for five days, not called quiet: %+v", beta)
	}
	if beta.Quiet(at, 7*24*time.Hour) {
		t.Errorf("Beta Mail called quiet after 7 days while silent for five")
	}
	if pd := alpha.PerDay(); pd < 0.99 || pd > 1.01 {
		t.Errorf("Alpha Mail: %.2f reports a day, want 1", pd)
	}
	one := ReporterActivity{Authenticated: true, Organization: "Once", Reports: 1, Days: 1, First: at.AddDate(0, -1, 0), Last: at.AddDate(0, -1, 1)}
	if one.Quiet(at, 72*time.Hour) {
		t.Error("a reporter seen once called quiet")
	}
}

func TestPrune(t *testing.T) {
	s := openTemp(t)
	month(t, s)
	ctx := t.Context()
	if _, err := s.LogAction(ctx, Action{Backend: "fail2ban", Kind: "unban", IP: netip.MustParseAddr("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	before := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC) // days 1 to 10 go
	plan, err := s.PrunePlan(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Reports != 20 || plan.Policies != 30 || plan.Details != 30 {
		t.Errorf("plan %+v, want 20 reports, 30 policies, 30 details", plan)
	}
	if st, _ := s.Stats(ctx); st.Reports != 55 {
		t.Fatalf("the plan removed something: %d reports", st.Reports)
	}
	got, err := s.Prune(ctx, before)
	if err != nil || got != plan {
		t.Fatalf("Prune = %+v, %v; want %+v", got, err, plan)
	}
	fs := mustFailing(t, s, time.Time{})
	seen := map[netip.Addr]FailingAddress{}
	for _, f := range fs {
		seen[f.IP] = f
	}
	if _, ok := seen[netip.MustParseAddr("192.0.2.1")]; ok {
		t.Error("192.0.2.1, only in pruned reports, still listed")
	}
	if f, ok := seen[netip.MustParseAddr("192.0.2.11")]; !ok || f.Reports != 2 {
		t.Errorf("192.0.2.11 of day 11: %+v", f)
	}
	if f := seen[netip.MustParseAddr("198.51.100.1")]; f.Reports != 20 || f.FailedSessions != 20 {
		t.Errorf("198.51.100.1 after the prune: %+v, want 20 reports and sessions", f)
	}
	fromDetails, err := s.failingDetails(ctx, -1<<62)
	if err != nil || len(fromDetails) != len(fs) {
		t.Errorf("aggregate (%d rows) and details (%d rows, %v) disagree after the prune", len(fs), len(fromDetails), err)
	}
	if as, _ := s.Actions(ctx, 0); len(as) != 1 {
		t.Errorf("audit log after the prune: %d entries, want 1", len(as))
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Errorf("vacuum: %v", err)
	}
	if n, err := s.Size(ctx); err != nil || n <= 0 {
		t.Errorf("size %d, %v", n, err)
	}
}

func TestSettings(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, _, ok, err := s.Setting(ctx, "digest.last"); ok || err != nil {
		t.Fatalf("unset setting: ok %v, %v", ok, err)
	}
	before := time.Now().Add(-time.Second) // the stamp may be in whole seconds
	for _, v := range []string{"1", "2\x00two"} {
		if err := s.SetSetting(ctx, "digest.last", v); err != nil {
			t.Fatal(err)
		}
	}
	v, at, ok, err := s.Setting(ctx, "digest.last")
	if err != nil || !ok || (v != "2\x00two" && v != "2\ufffdtwo") || at.Before(before) || at.After(time.Now()) {
		t.Errorf("setting = %q at %v, %v, %v", v, at, ok, err)
	}
}

func TestAddressChanges(t *testing.T) {
	s := openTemp(t)
	month(t, s)
	ctx := t.Context()
	// Reports of days 28 to 30 (stored on the 29th to Dec 1st, at noon).
	cs, err := s.AddressChanges(ctx, time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 4 {
		t.Fatalf("%d changes, want 4 (192.0.2.28-30, 198.51.100.1): %+v", len(cs), cs)
	}
	for _, c := range cs {
		switch c.IP.String() {
		case "198.51.100.1":
			if c.New() || c.Before != 27 || c.Since != 3 {
				t.Errorf("198.51.100.1: %+v, want 27 before, 3 since", c)
			}
		default:
			if !c.New() || len(c.Organizations) != 1 {
				t.Errorf("%s: %+v, want new, from Alpha Mail only", c.IP, c)
			}
		}
	}
	// Stored on the 2nd: the reports of the 1st.
	ds, err := s.DomainSessionsStored(ctx, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))
	if err != nil || len(ds) != 2 || ds[0].Domain != "example.net" || ds[0].Successful != 200 || ds[0].Failed != 2 {
		t.Errorf("domains on the 1st: %+v, %v", ds, err)
	}
}

// TestReportersDaysReceived: eight reports dated over eight days but
// received at once count one day received; three received on three days
// count three; LastReceived is the latest receipt (else storage) time,
// apart from LastStored.
func TestReportersDaysReceived(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	add := func(id string, n int, storedAt, received, start time.Time) {
		s.SetClock(func() time.Time { return storedAt })
		defer s.SetClock(nil)
		r := &report.Report{OrganizationName: id, ReportID: fmt.Sprint(id, n), Start: start, End: start.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 1}}}
		src := arrival.Source{Transport: "mail", Submitter: id, Received: received, Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: id}}
		if _, _, err := s.AddReport(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	for d := 1; d <= 8; d++ {
		add("backdated.example", d, day.Add(time.Hour), day.Add(time.Hour), day.AddDate(0, 0, -d))
	}
	for d := 1; d <= 3; d++ {
		at := day.AddDate(0, 0, -d).Add(8 * time.Hour)
		add("daily.example", d, at.Add(time.Minute), at, day.AddDate(0, 0, -d-1))
	}
	add("daily.example", 4, day.Add(2*time.Hour), time.Time{}, day.AddDate(0, 0, -5)) // no receipt time: stored
	as, err := s.ReportersAsOf(ctx, day.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ReporterActivity{}
	for _, a := range as {
		got[a.Identity] = a
	}
	if b := got["backdated.example"]; b.DaysReceived != 1 || b.Days != 8 || !b.LastReceived.Equal(day.Add(time.Hour)) {
		t.Errorf("backdated: %d days received, %d days, last received %v; want 1, 8, %v", b.DaysReceived, b.Days, b.LastReceived, day.Add(time.Hour))
	}
	if d := got["daily.example"]; d.DaysReceived != 4 || !d.LastReceived.Equal(day.Add(2*time.Hour)) || !d.LastStored.Equal(day.Add(2*time.Hour)) {
		t.Errorf("daily: %d days received, last received %v, stored %v; want 4, %v", d.DaysReceived, d.LastReceived, d.LastStored, day.Add(2*time.Hour))
	}
}
