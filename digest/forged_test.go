package digest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// Forged reports cannot silence or raise the quiet alert, are marked
// where the digest names them, and a backfill does not make a silent
// reporter look alive.

// TestDigestForgedReports: Beta Mail (signed by beta-mail.example) is
// silent for six days. An unsigned report claiming to be Beta Mail from
// beta-mail.example, dated 2099, arrives in the digest's span: Beta stays
// quiet, and the digest line of the address it names says the name is
// unauthenticated. A regular unsigned reporter gone silent raises nothing.
func TestDigestForgedReports(t *testing.T) {
	st := month(t, "Beta Mail")
	claim := arrival.Source{Transport: "mail", Submitter: identity("Beta Mail"), FromDomain: identity("Beta Mail")}
	addReport(t, st, now.Add(-time.Hour), "Beta Mail", "forged", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), "203.0.113.9", 5, claim)
	for d := range 10 {
		addReport(t, st, now.Add(-time.Hour), "Gamma Mail", fmt.Sprint(d), first.AddDate(0, 0, d), "203.0.113.10", 1, arrival.Source{Transport: "https"})
	}
	d := compute(t, st, Options{Now: now})
	if len(d.Quiet) != 1 || d.Quiet[0].Name() != "beta-mail.example" {
		t.Errorf("quiet %+v, want beta-mail.example alone", d.Quiet)
	}
	txt := mailText(t, d)
	for _, want := range []string{"203.0.113.9: 5 failed sessions from Beta Mail (unauthenticated)",
		"203.0.113.10: 10 failed sessions from Gamma Mail (unauthenticated)", "beta-mail.example: last report ended 2026-11-25"} {
		if !strings.Contains(txt, want) {
			t.Errorf("digest text lacks %q:\n%s", want, txt)
		}
	}
}

// TestDigestQuietAfterBackfill: Delta Mail's reports of November 1 to 20,
// imported (stored) an hour ago, show a reporter silent since the 20th:
// quiet, though its reports were stored within the hour.
func TestDigestQuietAfterBackfill(t *testing.T) {
	st := month(t, "Beta Mail")
	src := arrival.Source{Transport: "import", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "delta.example"}}
	for d := range 20 {
		addReport(t, st, now.Add(-time.Hour), "Delta Mail", fmt.Sprint(d), first.AddDate(0, 0, d), "203.0.113.11", 1, src)
	}
	d := compute(t, st, Options{Now: now})
	var names []string
	for _, q := range d.Quiet {
		names = append(names, q.Name())
	}
	if strings.Join(names, ",") != "beta-mail.example,delta.example" {
		t.Errorf("quiet %q, want beta-mail.example and delta.example", names)
	}
}
