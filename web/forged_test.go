package web

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestAddressTableForgedOrganization attacks who the failing-address
// table says reported an address: an unsigned report claiming Google's
// name (with markup in it) names 192.0.2.1, Google's signed report names
// 192.0.2.2, both name 192.0.2.3. The page's table (the reports of its
// span) and /api/v1/review (all reports) show the forgery's name marked
// unauthenticated and HTML-escaped, the signed name as it is, and the
// address both name under the signed name once.
func TestAddressTableForgedOrganization(t *testing.T) {
	const org = "<b>Google</b> Inc."
	st := storetest.Open(t)
	start := now.AddDate(0, 0, -3).Truncate(24 * time.Hour)
	add := func(id string, src arrival.Source, ips ...string) {
		var fs []storetest.Failure
		for i, ip := range ips {
			fs = append(fs, storetest.Failure{IP: ip, Type: "certificate-expired", Sessions: int64(10 - i)})
		}
		storetest.AddTLS(t, st, time.Time{}, storetest.TLS(org, id, start, storetest.Policy("example.net", 100, fs...)), src)
	}
	add("forged", arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com"}, "192.0.2.1", "192.0.2.3")
	add("real", arrival.Source{Transport: "mail", Submitter: "google.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}, "192.0.2.2", "192.0.2.3")
	srv := serveDashboard(t, Options{Store: st})

	escaped := "&lt;b&gt;Google&lt;/b&gt; Inc."
	want := map[string]string{
		"192.0.2.1": escaped + " (unauthenticated)",
		"192.0.2.2": escaped,
		"192.0.2.3": escaped,
	}
	_, body := get(t, srv.URL+"/")
	cells := regexp.MustCompile(`<td class="ip">([^<]*)</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>`).FindAllStringSubmatch(body, -1)
	got := map[string]string{}
	for _, c := range cells {
		got[c[1]] = c[2]
	}
	for ip, w := range want {
		if got[ip] != w {
			t.Errorf("page: %s reported by %q, want %q", ip, got[ip], w)
		}
	}
	if strings.Contains(body, "<b>Google") {
		t.Error("the page holds the organization-name unescaped")
	}

	rows := getJSON[[]struct {
		IP     string   `json:"ip"`
		Orgs   []string `json:"organizations"`
		Authed []string `json:"authenticated_organizations"`
	}](t, srv.URL+"/api/v1/review")
	for _, r := range rows {
		shown := []string{org}
		if r.IP == "192.0.2.1" {
			shown = []string{org + " (unauthenticated)"}
		}
		if !slices.Equal(r.Orgs, shown) || slices.Equal(r.Authed, shown) == (r.IP == "192.0.2.1") {
			t.Errorf("/api/v1/review %s: organizations %q, authenticated_organizations %q", r.IP, r.Orgs, r.Authed)
		}
	}
}
