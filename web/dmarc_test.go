package web

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// Hostile strings of DMARC reports: a From domain, a disposition and a
// claimed reporter name that try to become markup, leave an attribute or
// break lines.
const (
	evilFrom = "<script>alert(\"from\")</script>'\r\nX-Evil: 1"
	evilDisp = `"><img src=x onerror=alert(1)>`
	evilOrg  = "<script>alert('org')</script>\"\r\n--b"
)

// fillDMARC stores, for November 25 to 30, google.com's signed TLS
// reports (500 successful, 5 failed sessions to example.net) and its
// signed DMARC reports of example.net (900 messages passing from
// 192.0.2.1, 100 failing from 203.0.113.5, rejected; on the 25th 3 more
// from 203.0.113.77); on the 30th, evil.example's signed DMARC report
// with a hostile From domain and disposition, an unsigned report that
// claims to be google.com's (5,000 failing from 198.51.100.66), and an
// unsigned one under a hostile name.
func fillDMARC(t testing.TB, st *store.Store) {
	t.Helper()
	g := dmarctest.Signed("google.com")
	for d := 25; d <= 30; d++ {
		day := time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC)
		recs := []dmarctest.Rec{{IP: "192.0.2.1", N: 900, Pass: true}, {IP: "203.0.113.5", N: 100}}
		if d == 25 {
			recs = append(recs, dmarctest.Rec{IP: "203.0.113.77", N: 3})
		}
		dmarctest.Add(t, st, day.Add(36*time.Hour), dmarctest.Report("Google Inc.", fmt.Sprint(d), "example.net", day, recs...), g)
		storetest.AddTLS(t, st, time.Time{}, storetest.TLS("Google Inc.", fmt.Sprint("tls", d), day,
			storetest.Policy("example.net", 500, storetest.Failure{IP: "192.0.2.9", Type: "certificate-expired", Sessions: 5})), g)
	}
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report("Evil", "e", "example.net", day,
		dmarctest.Rec{IP: "203.0.113.6", N: 2, From: evilFrom, Disposition: evilDisp}), dmarctest.Signed("evil.example"))
	dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report("google.com", "forged", "example.net", day,
		dmarctest.Rec{IP: "198.51.100.66", N: 5000}), dmarctest.Unsigned("google.com"))
	dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report(evilOrg, "o", "example.net", day,
		dmarctest.Rec{IP: "198.51.100.67", N: 1}), dmarctest.Unsigned("example.org"))
}

// dmarcServer serves the dashboard over fillDMARC's reports, with opt's
// span.
func dmarcServer(t testing.TB, days int) *httptest.Server {
	t.Helper()
	return dmarcServerOn(t, storetest.Open(t), days)
}

// dmarcServerOn is dmarcServer over st.
func dmarcServerOn(t testing.TB, st *store.Store, days int) *httptest.Server {
	t.Helper()
	fillDMARC(t, st)
	return serveDashboard(t, Options{Store: st, Days: days})
}

// sections splits the page's per-reporter section by reporter: the HTML
// of each figure by its caption, as the page writes it (escaped).
func sections(t *testing.T, body string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, part := range strings.Split(body, `<figure class="side">`)[1:] {
		m := regexp.MustCompile(`(?s)^\s*<figcaption>(.*?)</figcaption>(.*?)</figure>`).FindStringSubmatch(part)
		if m == nil {
			t.Fatalf("a section without its caption: %.200q", part)
		}
		out[m[1]] = m[2]
	}
	return out
}

// TestDMARCSection: each reporter has its section with TLS sessions and
// DMARC messages per day and its failing sources; the unsigned report
// claiming google.com's name has a section of its own, marked, and
// adds nothing to google.com's; the hostile strings are escaped, the
// page's scripts are its three, and no report string is in its JSON.
func TestDMARCSection(t *testing.T) {
	checkDMARCSection(t, dmarcServer(t, 0))
}

// TestDMARCSectionPostgres is TestDMARCSection over a real PostgreSQL
// server.
func TestDMARCSectionPostgres(t *testing.T) {
	checkDMARCSection(t, dmarcServerOn(t, storetest.OpenAt(t, pgtest.Start(t).NewDatabase()), 0))
}

func checkDMARCSection(t *testing.T, srv *httptest.Server) {
	_, body := get(t, srv.URL+"/")
	secs := sections(t, body)
	forgedName := "google.com (unauthenticated)"
	g, ok := secs["google.com"]
	if !ok || len(secs) != 4 {
		t.Fatalf("sections %q, want google.com, evil.example, %q and the hostile name", keys(secs), forgedName)
	}
	for _, want := range []string{"<td>2026-11-30</td><td>500</td><td>5</td><td>900</td><td>100</td>", `<td class="ip">203.0.113.5</td><td>example.net</td><td>600</td><td>reject</td><td>dkim=fail spf=fail</td><td>6</td>`,
		`<td class="ip">203.0.113.77</td>`} {
		if !strings.Contains(g, want) {
			t.Errorf("google.com's section lacks %q:\n%s", want, g)
		}
	}
	if strings.Contains(g, "198.51.100.66") || strings.Contains(g, "5000") {
		t.Errorf("the forged report counts under google.com:\n%s", g)
	}
	if f := secs[forgedName]; !strings.Contains(f, `<td class="ip">198.51.100.66</td>`) || !strings.Contains(f, "<td>0</td><td>5000</td>") {
		t.Errorf("the forged report's section %q:\n%s", forgedName, f)
	}
	e := secs["evil.example"]
	for _, want := range []string{"&lt;script&gt;alert(&#34;from&#34;)&lt;/script&gt;&#39;\r\nX-Evil: 1", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(e, want) {
			t.Errorf("evil.example's section lacks %q escaped:\n%s", want, e)
		}
	}
	found := false
	for k := range secs {
		found = found || strings.HasPrefix(k, "&lt;script&gt;alert(&#39;org&#39;)&lt;/script&gt;&#34; --b (unauthenticated)")
	}
	if !found {
		t.Errorf("no section for the hostile name, escaped and marked: %q", keys(secs))
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "\"><img"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if n := strings.Count(body, "<script"); n != 3 {
		t.Errorf("%d script elements, want 3", n)
	}
	data := regexp.MustCompile(`(?s)<script type="application/json" id="chart-data">(.*?)</script>`).FindStringSubmatch(body)
	if data == nil {
		t.Fatal("no chart data")
	}
	for _, s := range []string{"google", "evil", "alert", "Google"} {
		if strings.Contains(data[1], s) {
			t.Errorf("the chart data holds %q, a report string", s)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDMARCSectionSpan: the dashboard's span (Days) bounds the section:
// with three days, google.com's table starts on November 29 and the
// source that failed only on the 25th is not listed.
func TestDMARCSectionSpan(t *testing.T) {
	srv := dmarcServer(t, 3)
	_, body := get(t, srv.URL+"/")
	g := sections(t, body)["google.com"]
	if strings.Contains(g, "2026-11-28") || !strings.Contains(g, "<td>2026-11-29</td>") || strings.Contains(g, "203.0.113.77") ||
		!strings.Contains(g, `<td class="ip">203.0.113.5</td><td>example.net</td><td>200</td>`) {
		t.Errorf("google.com's section over three days:\n%s", g)
	}
}

// TestDMARCSectionForgedFlood attacks the section's bound: twenty
// unsigned reports under made-up names, each with more messages than
// all the signed ones, cannot push the eight signed reporters out of
// their sections; they are added up as "(other reporters)", their names
// nowhere on the page.
func TestDMARCSectionForgedFlood(t *testing.T) {
	st := storetest.Open(t)
	day := now.AddDate(0, 0, -2).Truncate(24 * time.Hour)
	for i := range maxReporterSections {
		rep := fmt.Sprintf("signed%d.example", i)
		dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report(rep, "s", "example.net", day, dmarctest.Rec{IP: "192.0.2.1", N: 10}), dmarctest.Signed(rep))
	}
	for i := range 20 {
		dmarctest.Add(t, st, now.Add(-time.Hour), dmarctest.Report(fmt.Sprintf("Forged%02d", i), "f", "example.net", day,
			dmarctest.Rec{IP: "198.51.100.1", N: 100000}), dmarctest.Unsigned(fmt.Sprintf("forged%d.example", i)))
	}
	srv := serveDashboard(t, Options{Store: st})
	_, body := get(t, srv.URL+"/")
	secs := sections(t, body)
	for i := range maxReporterSections {
		if _, ok := secs[fmt.Sprintf("signed%d.example", i)]; !ok {
			t.Errorf("signed%d.example has no section: %q", i, keys(secs))
		}
	}
	if o, ok := secs[otherReporters]; !ok || !strings.Contains(o, "<td>0</td><td>2000000</td>") || len(secs) != maxReporterSections+1 {
		t.Errorf("sections %q; (other reporters):\n%s", keys(secs), o)
	}
	if strings.Contains(body, "Forged") || !strings.Contains(body, "20 more reporters") {
		t.Error("a forged name is on the page, or the reporters added up are not counted")
	}
}

// TestDMARCSectionInChromium loads the dashboard over stored DMARC
// reports in a real headless Chromium: a chart per reporter is drawn,
// the failing sources and the forged reporter's marked name are in the
// rendered text, the hostile strings stayed text (no element made of
// them), and the page had no script error or CSP violation.
func TestDMARCSectionInChromium(t *testing.T) {
	srv := dmarcServer(t, 0)
	ctx, seen := load(t, srv.URL, `#dmarc-0 canvas`)
	if n := evalInt(t, ctx, `document.querySelectorAll('[data-kind="dmarc"][data-drawn="1"] canvas').length`); n < 4 {
		t.Errorf("%d reporter charts drawn, want 4", n)
	}
	if n := evalInt(t, ctx, paintedJS); n < 4 {
		t.Errorf("%d canvases with pixels", n)
	}
	if s, i := evalInt(t, ctx, `document.querySelectorAll('script').length`), evalInt(t, ctx, `document.querySelectorAll('img').length`); s != 3 || i != 0 {
		t.Errorf("%d scripts and %d images in the DOM: a report string became markup", s, i)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('dmarc').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"google.com (unauthenticated)", "203.0.113.5", "198.51.100.66", "dkim=fail spf=fail",
		`<script>alert("from")</script>'`, evilDisp, "<script>alert('org')</script>\" --b (unauthenticated)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the section's text lacks %q:\n%s", want, text)
		}
	}
	seen.check(t, srv.URL)
}
