package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// now is the dashboard's clock in the tests: the day after the month.
var now = time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)

// hostile are reporter names that try to become markup or script.
var hostile = []string{`<script>alert("xss")</script>`, `"><img src=x onerror=alert(1)>`, "javascript:alert(1)"}

// fillMonth stores 30 days of reports of three reporters (one with a
// hostile name each day in turn) for example.net and example.org, and a
// reporter that goes quiet after day 20, each stored at noon of the next
// day. Google Inc. and Quiet Mail sign their reports (as r0.example and
// r2.example); the hostile names do not.
func fillMonth(t testing.TB, st *store.Store) {
	t.Helper()
	first := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 30; d++ {
		start := first.AddDate(0, 0, d)
		orgs := []string{"Google Inc.", hostile[d%len(hostile)]}
		if d < 20 {
			orgs = append(orgs, "Quiet Mail")
		}
		for i, org := range orgs {
			r := storetest.TLS(org, fmt.Sprintf("%d-%d", d, i), start,
				storetest.Policy("example.net", 500, storetest.Failure{IP: fmt.Sprintf("192.0.2.%d", 1+d%7), Type: "certificate-expired",
					Sessions: int64(d % 5), MX: "mx1.example.net"}),
				storetest.Policy("example.org", 200, storetest.Failure{IP: "198.51.100.7", Type: "validation-failure", Sessions: 2, MX: "mx2.example.org"}))
			src := arrival.Source{Transport: "mail", Submitter: fmt.Sprint("r", i, ".example")}
			if i != 1 {
				src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: src.Submitter}
			}
			storetest.AddTLS(t, st, start.Add(36*time.Hour), r, src)
		}
	}
}

// newServer serves the dashboard over a month of reports on a real
// listener. The review rows mark 198.51.100.7 trusted and banned, as the
// command layer would after its checks.
func newServer(t testing.TB) *httptest.Server {
	t.Helper()
	st := storetest.Open(t)
	fillMonth(t, st)
	return serveDashboard(t, Options{Store: st,
		Review: func(ctx context.Context, since time.Time) ([]ReviewRow, error) {
			rows, err := storeRows(ctx, st, since)
			for i := range rows {
				if rows[i].IP == "198.51.100.7" {
					rows[i].Trusted, rows[i].Why = true, "trusted: Google Inc., dkim google.com, spf:_spf.google.com"
					rows[i].Banned = &[]assess.BanRecord{{Backend: "fail2ban", Where: "postfix"}}
				} else {
					rows[i].BannedUnknown = []string{"fail2ban"}
				}
			}
			return rows, err
		}})
}

// serveDashboard serves the dashboard of o, at the tests' now when o
// sets no clock, on a real listener closed when t ends.
func serveDashboard(t testing.TB, o Options) *httptest.Server {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get GETs url: the response and its whole body.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	return servetest.Get(t, http.DefaultClient, url)
}

// getJSON GETs url and decodes its answer into a T, failing t unless
// the answer is 200 and its JSON decodes.
func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	resp, body := get(t, url)
	if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s, %v: %.200s", url, resp.Status, err, body)
	}
	return v
}

func TestPage(t *testing.T) {
	srv := newServer(t)
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for h, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY"} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("header %s = %q, want %q in it", h, resp.Header.Get(h), want)
		}
	}
	for _, want := range []string{"198.51.100.7", "tlsrpt redeem --ip 198.51.100.7", "fail2ban:postfix", "gone quiet", "r2.example", "(unauthenticated)",
		"mx2.example.org", "example.net", "certificate-expired", `id="chart-data"`, "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{`<script>alert`, `<img src=x`, `onerror=alert(1)>`} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if n := strings.Count(body, "<script"); n != 3 {
		t.Errorf("%d script elements, want 3 (uPlot, app.js, the JSON data)", n)
	}
	// The quiet reporter comes first in its table.
	rep := body[strings.Index(body, `id="reporters"`):]
	if strings.Index(rep, "r2.example") > strings.Index(rep, "r0.example") {
		t.Error("the quiet reporter is not listed first")
	}
}

func TestAssetsEmbedded(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/assets/app.js", "/assets/style.css", "/assets/vendor/uplot/uPlot.iife.min.js", "/assets/vendor/uplot/uPlot.min.css"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 || len(body) < 500 {
			t.Errorf("%s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	if resp, _ := get(t, srv.URL+"/assets/../web.go"); resp.StatusCode == 200 {
		t.Error("a path outside the assets is served")
	}
}

func TestReadOnly(t *testing.T) {
	srv := newServer(t)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, path := range []string{"/", "/api/v1/review", "/api/v1/stats"} {
			req, _ := http.NewRequest(m, srv.URL+path, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %s, Allow %q", m, path, resp.Status, resp.Header.Get("Allow"))
			}
		}
	}
}

func TestAPI(t *testing.T) {
	srv := newServer(t)
	rows := getJSON[[]map[string]any](t, srv.URL+"/api/v1/review")
	// The contract's keys (docs/architecture.md, "Command contract": review --json).
	for _, k := range []string{"ip", "failed_sessions", "reports", "organizations", "result_types", "first_seen", "last_seen", "trusted", "why"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("review row lacks %q: %v", k, rows[0])
		}
	}
	srows := getJSON[[]map[string]any](t, srv.URL+"/api/v1/stats?by=week&group=domain&since=2026-11-01")
	if len(srows) == 0 {
		t.Fatal("no stats rows")
	}
	if _, ok := srows[0]["domain"]; !ok || srows[0]["day"] == "" {
		t.Errorf("stats row %v", srows[0])
	}
	for _, q := range []string{"by=year", "group=ip", "since=yesterday"} {
		if resp, _ := get(t, srv.URL+"/api/v1/stats?"+q); resp.StatusCode != 400 {
			t.Errorf("stats?%s: %s, want 400", q, resp.Status)
		}
	}
	reps := getJSON[[]reporterJSON](t, srv.URL+"/api/v1/reporters")
	if len(reps) != 5 {
		t.Fatalf("%d reporters, want 5", len(reps))
	}
	quiet := 0
	for _, r := range reps {
		if r.Quiet {
			quiet++
			if r.Reporter != "r2.example" {
				t.Errorf("%q called quiet", r.Reporter)
			}
		}
		if r.Authenticated == strings.HasSuffix(r.Reporter, " (unauthenticated)") {
			t.Errorf("%q: authenticated %v, not marked so", r.Reporter, r.Authenticated)
		}
	}
	if quiet != 1 {
		t.Errorf("%d quiet reporters, want 1", quiet)
	}
}

// TestStoreDown answers 503 with Retry-After when the store cannot be read.
func TestStoreDown(t *testing.T) {
	st := storetest.Open(t)
	h, err := New(Options{Store: st, Review: func(context.Context, time.Time) ([]ReviewRow, error) {
		return nil, fmt.Errorf("store: %w", store.ErrUnavailable)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, body := get(t, srv.URL+"/api/v1/review")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || strings.Count(body, "\n") != 1 {
		t.Errorf("review with the store away: %s, Retry-After %q, body %q", resp.Status, resp.Header.Get("Retry-After"), body)
	}
}

func TestBansText(t *testing.T) {
	for _, tc := range []struct {
		r    ReviewRow
		want string
	}{
		{ReviewRow{}, "-"},
		{ReviewRow{Banned: &[]assess.BanRecord{}}, "not banned"},
		{ReviewRow{Banned: &[]assess.BanRecord{{Backend: "iptables", Where: "f2b-postfix"}}}, "iptables:f2b-postfix"},
		{ReviewRow{Banned: &[]assess.BanRecord{}, BannedUnknown: []string{"fail2ban", "ipqbdb"}}, "? (fail2ban, ipqbdb could not be asked)"},
	} {
		if got := bansText(tc.r); got != tc.want {
			t.Errorf("bansText(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestAddressesInSpan: an address failing only in a report older than
// the page's span is neither counted in the tiles nor listed in the
// table (both are the span's); the API, like review --json, lists every
// address unless asked with since.
func TestAddressesInSpan(t *testing.T) {
	st := storetest.Open(t)
	fillMonth(t, st)
	old := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	storetest.AddTLS(t, st, time.Time{}, storetest.TLS("Google Inc.", "old", old, storetest.Policy("example.net", 10,
		storetest.Failure{IP: "203.0.113.99", Type: "starttls-not-supported", Sessions: 7})), arrival.Source{Transport: "mail"})
	srv := serveDashboard(t, Options{Store: st, Days: 90})
	_, body := get(t, srv.URL+"/")
	if strings.Contains(body, "203.0.113.99") {
		t.Error("the page lists 203.0.113.99, whose only report is from before the span")
	}
	if !strings.Contains(body, `<span class="n">8</span> failing sending addresses`) {
		t.Errorf("the tile does not count the span's 8 failing addresses: %s", body[strings.Index(body, "failed sessions ("):][:200])
	}
	if _, api := get(t, srv.URL+"/api/v1/review"); !strings.Contains(api, "203.0.113.99") {
		t.Error("the API without since lacks 203.0.113.99")
	}
	if _, api := get(t, srv.URL+"/api/v1/review?since=2026-06-01"); strings.Contains(api, "203.0.113.99") || !strings.Contains(api, "198.51.100.7") {
		t.Error("the API with since=2026-06-01 does not list the addresses since then only")
	}
	if resp, _ := get(t, srv.URL+"/api/v1/review?since=yesterday"); resp.StatusCode != 400 {
		t.Errorf("review?since=yesterday: %s, want 400", resp.Status)
	}
}

// TestEmptyCharts: on an empty store no chart is left blank: each place
// a chart would be says why there is none, and no empty chart element
// is on the page.
func TestEmptyCharts(t *testing.T) {
	st := storetest.Open(t)
	srv := serveDashboard(t, Options{Store: st})
	_, body := get(t, srv.URL+"/")
	for _, id := range []string{"sessions", "rates", "types"} {
		i := strings.Index(body, `<section id="`+id+`">`)
		sec := body[i : i+strings.Index(body[i:], "</section>")]
		if !strings.Contains(sec, `<p class="empty">No `) {
			t.Errorf("section %s has no empty-state text: %s", id, sec)
		}
		if strings.Contains(sec, `class="chart"`) {
			t.Errorf("section %s holds an empty chart: %s", id, sec)
		}
	}
}

// TestRedeemCommandQuoted: the redeem commands to copy carry the options
// the dashboard was given, each one word for a POSIX shell whatever it
// holds: run through sh, the command's words are the options exactly.
func TestRedeemCommandQuoted(t *testing.T) {
	st := storetest.Open(t)
	fillMonth(t, st)
	args := []string{"--db", "/var/lib/tlsrpt/my db's $(touch pwned) `id`.db", "--allowlist", "/etc/tlsrpt/a;b&c|d>e\n*.txt", "--backend", "fail2ban"}
	srv := serveDashboard(t, Options{Store: st, RedeemArgs: args})
	_, body := get(t, srv.URL+"/")
	m := regexp.MustCompile(`data-copy="([^"]*--ip 198\.51\.100\.7)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no copy button for 198.51.100.7")
	}
	line := html.UnescapeString(m[1])
	if !strings.HasPrefix(line, "tlsrpt redeem ") {
		t.Fatalf("command %q", line)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "printf '%s\\0' "+strings.TrimPrefix(line, "tlsrpt "))
	cmd.Dir = dir
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	want := append(append([]string{"redeem"}, args...), "--ip", "198.51.100.7")
	if words := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00"); !slices.Equal(words, want) {
		t.Errorf("sh reads %q as\n%q\nwant\n%q", line, words, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("running the command through sh made files: %v", entries)
	}
	if plain := shellCommand([]string{"tlsrpt", "redeem", "--db", "/var/lib/tlsrpt/tlsrpt.db"}); plain != "tlsrpt redeem --db /var/lib/tlsrpt/tlsrpt.db" {
		t.Errorf("a plain path is quoted: %q", plain)
	}
}
