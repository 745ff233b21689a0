package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/report"
)

// TestFailingDomains: only authenticated reports choose the domains, the
// result types and the hosts; a forged report's domain is left out.
func TestFailingDomains(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	add := func(id, domain string, authed bool, end time.Time, details ...report.FailureDetail) {
		t.Helper()
		r := &report.Report{OrganizationName: "Reporter", ReportID: id, Start: end.Add(-24 * time.Hour), End: end,
			Policies: []report.Policy{{Type: "sts", Domain: domain, Strings: []string{"version: STSv1", "mode: enforce"},
				Successful: 5, Failed: int64(len(details)), Details: details}}}
		if _, _, err := st.AddReport(ctx, r, Source{Transport: "mail", Auth: diagAuth(authed)}); err != nil {
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
	if err != nil {
		t.Fatal(err)
	}
	want := []DomainFailures{{
		Domain: "ours.example", FailedSessions: 3,
		ResultTypes:   []string{"certificate-expired", "starttls-not-supported"},
		ReceivingMX:   []string{"mx1.ours.example", "mx2.ours.example"},
		PolicyStrings: [][]string{{"version: STSv1", "mode: enforce"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func diagAuth(ok bool) Auth {
	if !ok {
		return Auth{}
	}
	return Auth{Authenticated: true, Method: "dkim", Domain: "reporter.example"}
}
