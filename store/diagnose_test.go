package store

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestFailingDomains: only authenticated reports choose the domains, the
// result types and the hosts; a forged report's domain is left out.
func TestFailingDomains(t *testing.T) {
	st := openTemp(t)
	ctx := t.Context()
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	add := func(id, domain string, authed bool, end time.Time, details ...report.FailureDetail) {
		t.Helper()
		r := &report.Report{OrganizationName: "Reporter", ReportID: id, Start: end.Add(-24 * time.Hour), End: end,
			Policies: []report.Policy{{Type: "sts", Domain: domain, Strings: []string{"version: STSv1", "mode: enforce"},
				Successful: 5, Failed: int64(len(details)), Details: details}}}
		if _, _, err := st.AddReport(ctx, r, arrival.Source{Transport: "mail", Auth: diagAuth(authed)}); err != nil {
			t.Fatal(err)
		}
	}
	d := func(typ, mx string) report.FailureDetail {
		return report.FailureDetail{ResultType: typ, ReceivingMXHostname: mx, FailedSessions: 1}
	}
	add("1", "Ours.Example.", true, end, d("certificate-expired", "mx1.ours.example"), d("starttls-not-supported", "mx2.ours.example"))
	add("2", "ours.example", true, end, d("certificate-expired", "mx1.ours.example"))
	add("3", "victim.example", false, end, d("starttls-not-supported", "mx.victim.example"))
	add("4", "old.example", true, end.AddDate(0, -1, 0), d("certificate-expired", "mx.old.example"))
	add("5", "fine.example", true, end)

	got, err := st.FailingDomains(ctx, end.AddDate(0, 0, -7))
	wantEqual(t, got, err, []DomainFailures{{
		Domain: "ours.example", FailedSessions: 3,
		ResultTypes:   []string{"certificate-expired", "starttls-not-supported"},
		ReceivingMX:   []string{"mx1.ours.example", "mx2.ours.example"},
		PolicyStrings: [][]string{{"version: STSv1", "mode: enforce"}},
	}})
}

func diagAuth(ok bool) arrival.Auth {
	if !ok {
		return arrival.Auth{}
	}
	return arrival.Auth{Authenticated: true, Method: "dkim", Domain: "reporter.example"}
}

// TestFailingDomainsStored: the span is of stored times, not of report
// ranges (a late report is in the span it arrived in); forged reports
// are left out.
func TestFailingDomainsStored(t *testing.T) {
	st := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	add := func(id, domain string, authed bool, stored time.Time) {
		t.Helper()
		st.SetClock(func() time.Time { return stored })
		r := &report.Report{OrganizationName: "Reporter", ReportID: id, Start: at.AddDate(0, 0, -10), End: at.AddDate(0, 0, -9),
			Policies: []report.Policy{{Type: "sts", Domain: domain, Failed: 1,
				Details: []report.FailureDetail{{ResultType: "certificate-expired", FailedSessions: 1}}}}}
		if _, _, err := st.AddReport(ctx, r, arrival.Source{Transport: "mail", Auth: diagAuth(authed)}); err != nil {
			t.Fatal(err)
		}
	}
	add("1", "late.example", true, at)
	add("2", "before.example", true, at.Add(-25*time.Hour))
	add("3", "victim.example", false, at)
	add("4", "after.example", true, at.Add(time.Hour))
	st.SetClock(nil)
	got, err := st.FailingDomainsStored(ctx, at.Add(-24*time.Hour), at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Domain != "late.example" || !reflect.DeepEqual(got[0].ResultTypes, []string{"certificate-expired"}) {
		t.Errorf("got %+v, want late.example alone", got)
	}
}

// TestAddressDomains: per address, the policy domains of authenticated
// reports, lower case, sorted, at most MaxAddressDomains; a forged report
// adds none.
func TestAddressDomains(t *testing.T) {
	st := openTemp(t)
	ctx := t.Context()
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	add := func(id, domain string, authed bool, ip string) {
		t.Helper()
		r := &report.Report{OrganizationName: "Reporter", ReportID: id, Start: end.Add(-24 * time.Hour), End: end,
			Policies: []report.Policy{{Type: "sts", Domain: domain, Failed: 1,
				Details: []report.FailureDetail{{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr(ip), FailedSessions: 1}}}}}
		if _, _, err := st.AddReport(ctx, r, arrival.Source{Transport: "mail", Auth: diagAuth(authed)}); err != nil {
			t.Fatal(err)
		}
	}
	add("1", "B.example.", true, "192.0.2.1")
	add("2", "a.example", true, "192.0.2.1")
	add("3", "victim.example", false, "192.0.2.1")
	add("4", "victim.example", false, "192.0.2.2")
	for i, d := range []string{"f.example", "c.example", "e.example", "d.example"} {
		add(fmt.Sprint("5-", i), d, true, "192.0.2.3")
	}
	got, err := st.AddressDomains(ctx, end.AddDate(0, 0, -7))
	wantEqual(t, got, err, map[netip.Addr][]string{
		netip.MustParseAddr("192.0.2.1"): {"a.example", "b.example"},
		netip.MustParseAddr("192.0.2.3"): {"c.example", "d.example", "e.example"},
	})
}
