package digest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// googleDays stores, in a new SQLite store, Google's signed DMARC
// reports of example.net for November 20 to 29, each stored at noon of
// the next day: 990 messages passing from 192.0.2.1, 10 failing from
// 192.0.2.2 (1%).
func googleDays(t *testing.T) *store.Store {
	t.Helper()
	return googleDaysIn(t, storetest.Open(t))
}

// googleDaysIn stores googleDays' reports in st.
func googleDaysIn(t *testing.T, st *store.Store) *store.Store {
	t.Helper()
	for d := 20; d <= 29; d++ {
		day := time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC)
		dmarctest.Add(t, st, day.Add(36*time.Hour), dmarctest.Report("google.com", fmt.Sprint(d), "example.net", day,
			dmarctest.Rec{IP: "192.0.2.1", N: 990, Pass: true}, dmarctest.Rec{IP: "192.0.2.2", N: 10}), dmarctest.Signed("google.com"))
	}
	return st
}

// badDay stores Google's signed report of the UTC day of begin, stored
// at noon of the next day: 700 passing, 300 failing from 203.0.113.5 and
// 50 from 203.0.113.6 sending as another domain (not ours), 10 from
// 192.0.2.2.
func badDay(t *testing.T, st *store.Store, begin time.Time) {
	t.Helper()
	dmarctest.Add(t, st, begin.Add(36*time.Hour), dmarctest.Report("google.com", "bad"+begin.Format("0102"), "example.net", begin,
		dmarctest.Rec{IP: "192.0.2.1", N: 700, Pass: true}, dmarctest.Rec{IP: "203.0.113.5", N: 300, Disposition: "quarantine"},
		dmarctest.Rec{IP: "203.0.113.6", N: 50, From: "other.example"}, dmarctest.Rec{IP: "192.0.2.2", N: 10}), dmarctest.Signed("google.com"))
}

// TestDigestDMARC: Google's DMARC failures go from 1% to 30% in the
// reports stored in the digest's span: the digest says so, and names
// 203.0.113.5 as a new source failing DMARC for example.net, not
// 192.0.2.2 (failing before) nor 203.0.113.6 (sending as a domain not
// ours). Recorded, the next digest, whose reports fail as much and whose
// window still holds 203.0.113.5's first report, says neither again.
func TestDigestDMARC(t *testing.T) {
	digestDMARC(t, googleDays(t))
}

// TestDigestDMARCPostgres is TestDigestDMARC on a real PostgreSQL server.
func TestDigestDMARCPostgres(t *testing.T) {
	digestDMARC(t, googleDaysIn(t, storetest.OpenAt(t, pgtest.Start(t).NewDatabase())))
}

func digestDMARC(t *testing.T, st *store.Store) {
	badDay(t, st, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	d := compute(t, st, Options{Now: now, Host: "mx1"})
	if len(d.DMARCRises) != 1 || d.DMARCRises[0].Reporter != "google.com" || d.DMARCRises[0].Now.Fail != 360 || d.DMARCRises[0].Before.Fail != 10 {
		t.Errorf("DMARC rises %+v, want google.com: 360 failing, 10 before", d.DMARCRises)
	}
	if len(d.DMARCNew) != 1 || d.DMARCNew[0].SourceIP.String() != "203.0.113.5" {
		t.Errorf("new failing sources %+v, want 203.0.113.5 alone", d.DMARCNew)
	}
	txt := mailText(t, d)
	for _, want := range []string{"DMARC failures that rose", "google.com: 34.0% of messages failed DMARC (360 of 1060), was 1.0% (10 of 1000)",
		"New sources failing DMARC for our domains:",
		"203.0.113.5 sending as example.net: 300 messages, dkim=fail spf=fail, disposition quarantine, reported by google.com"} {
		if !strings.Contains(txt, want) {
			t.Errorf("digest text lacks %q:\n%s", want, txt)
		}
	}
	recordSent(t, st, "mx1", d)

	badDay(t, st, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	d = compute(t, st, Options{Now: now.AddDate(0, 0, 1), Host: "mx1"})
	if len(d.DMARCRises)+len(d.DMARCNew) != 0 {
		t.Errorf("the next digest repeats: rises %+v, new sources %+v", d.DMARCRises, d.DMARCNew)
	}
	// Another host, which sent no digest, has the source named.
	d = compute(t, st, Options{Now: now.AddDate(0, 0, 1), Host: "mx2"})
	if len(d.DMARCNew) != 1 {
		t.Errorf("mx2: new failing sources %+v; want 203.0.113.5", d.DMARCNew)
	}
}

// TestDigestDMARCOurDomains: with our domains given, a source failing as
// a domain the reports' policy domains do not cover is named when it is
// ours, and one of ours is not named when we give only another.
func TestDigestDMARCOurDomains(t *testing.T) {
	st := googleDays(t)
	badDay(t, st, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	for domains, want := range map[string]string{"other.example": "203.0.113.6", "example.net": "203.0.113.5", "EXAMPLE.NET.": "203.0.113.5"} {
		d := compute(t, st, Options{Now: now, Domains: []string{domains}})
		if len(d.DMARCNew) != 1 || d.DMARCNew[0].SourceIP.String() != want {
			t.Errorf("domains %q: new failing sources %+v, want %s alone", domains, d.DMARCNew, want)
		}
	}
}

// TestDigestDMARCForgedFlood attacks the DMARC alerts with unsigned
// reports that claim to be Google's (reporter google.com, sent from
// google.com): a flood of 100,000 failing messages from 198.51.100.66 in
// the digest's span raises no alert under Google's name or any other, and
// names no source; a forged report of November 10 that has 203.0.113.5
// failing already does not hide it as new in Google's signed report.
func TestDigestDMARCForgedFlood(t *testing.T) {
	st := googleDays(t)
	forged := dmarctest.Unsigned("google.com")
	old := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	dmarctest.Add(t, st, old.Add(36*time.Hour), dmarctest.Report("google.com", "early", "example.net", old,
		dmarctest.Rec{IP: "203.0.113.5", N: 1}), forged)
	for i := range 10 {
		dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report("google.com", fmt.Sprint("flood", i), "example.net", now.AddDate(0, 0, -1),
			dmarctest.Rec{IP: "198.51.100.66", N: 10000}), forged)
	}
	d := compute(t, st, Options{Now: now})
	txt := mailText(t, d)
	if len(d.DMARCRises)+len(d.DMARCNew) != 0 || strings.Contains(txt, "DMARC") || strings.Contains(txt, "198.51.100.66") {
		t.Errorf("forged reports raised DMARC alerts: rises %+v, new %+v\n%s", d.DMARCRises, d.DMARCNew, txt)
	}

	badDay(t, st, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	d = compute(t, st, Options{Now: now})
	if len(d.DMARCNew) != 1 || d.DMARCNew[0].SourceIP.String() != "203.0.113.5" || d.DMARCNew[0].Unauthenticated {
		t.Errorf("new failing sources %+v, want 203.0.113.5 from Google's signed report", d.DMARCNew)
	}
	if len(d.DMARCRises) != 1 || d.DMARCRises[0].Now.Fail != 360 {
		t.Errorf("DMARC rises %+v, want google.com with its own 360 failing messages", d.DMARCRises)
	}
}

// TestDigestDMARCHostile keeps the strings of a signed DMARC report from
// forging lines of the mail body: a From domain and a disposition with
// CR, LF, a boundary and a header.
func TestDigestDMARCHostile(t *testing.T) {
	st := googleDays(t)
	evil := "x\r\n--boundary\r\nX-Evil: 1\x1b[2J.example.net"
	r := dmarctest.Report("google.com", "evil", "example.net", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		dmarctest.Rec{IP: "203.0.113.7", N: 5, From: evil, Disposition: "reject\n--boundary--"})
	dmarctest.Add(t, st, now.Add(-time.Hour), r, dmarctest.Signed("google.com"))
	d := compute(t, st, Options{Now: now})
	if len(d.DMARCNew) != 1 {
		t.Fatalf("new failing sources %+v, want the hostile one", d.DMARCNew)
	}
	txt := mailText(t, d)
	for _, line := range strings.Split(txt, "\n") {
		if strings.HasPrefix(line, "--") || strings.HasPrefix(line, "X-Evil") || strings.ContainsAny(line, "\r\x1b") {
			t.Errorf("a hostile string formed a line: %q", line)
		}
	}
	if !strings.Contains(txt, "203.0.113.7 sending as ") {
		t.Errorf("the hostile source is not named:\n%s", txt)
	}
}
