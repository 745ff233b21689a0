package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// guarded serves the dashboard over a month of reports with opt's
// Listen, AllowHosts and Auth, and counts the calls of Review (what
// runs the ban backends' programs).
func guarded(t *testing.T, opt Options) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	st := storetest.Open(t)
	fillMonth(t, st)
	var reviews atomic.Int64
	opt.Store, opt.Now = st, func() time.Time { return now }
	opt.Review = func(ctx context.Context, since time.Time) ([]ReviewRow, error) {
		reviews.Add(1)
		return storeRows(ctx, st, since)
	}
	h, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &reviews
}

// do sends a GET of path to srv with the Host header host (empty: the
// listener's address) and the given header fields.
func do(t *testing.T, srv *httptest.Server, host, path string, fields ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, body := servetest.Do(t, http.DefaultClient, req)
	return resp.StatusCode, body
}

// TestHostRebinding attacks with DNS rebinding: a page of
// rebind.attacker.example whose name now resolves to 127.0.0.1 asks the
// dashboard, over real HTTP, for the review; its Host header names the
// attacker's name. Every path is refused with 421 and the review never
// runs; the names the dashboard is browsed by still work, with any port
// (ssh -L forwards any local port).
func TestHostRebinding(t *testing.T) {
	srv, reviews := guarded(t, Options{Listen: "127.0.0.1:8461", AllowHosts: []string{"Dash.Example.COM."}})
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	for _, host := range []string{"rebind.attacker.example", "rebind.attacker.example:" + port, "localhost.attacker.example:" + port,
		"127.0.0.1.attacker.example", "dash.example.com.attacker.example", "example.com", "192.0.2.1:" + port, "[2001:db8::1]:" + port} {
		for _, path := range []string{"/", "/api/v1/review", "/api/v1/stats", "/api/v1/reporters", "/healthz", "/assets/app.js"} {
			code, body := do(t, srv, host, path)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "--allow-host") || strings.Contains(body, "198.51.100.7") {
				t.Errorf("Host %s, GET %s: %d %.80q, want 421 naming --allow-host", host, path, code, body)
			}
		}
	}
	if n := reviews.Load(); n != 0 {
		t.Errorf("the review ran %d times for refused requests", n)
	}
	for _, host := range []string{"", "127.0.0.1", "127.0.0.1:" + port, "localhost:" + port, "LOCALHOST.:9000", "[::1]:" + port, "[::1]",
		"127.7.7.7:1", "dash.example.com", "dash.example.com:443"} {
		if code, body := do(t, srv, host, "/api/v1/review"); code != 200 || !strings.Contains(body, "198.51.100.7") {
			t.Errorf("Host %q: %d, want 200 with the review", host, code)
		}
	}
}

// TestHostListenAddress: the host of --listen is a name the dashboard
// answers to; listening on every address accepts every IP literal (one
// cannot be rebound) but no name.
func TestHostListenAddress(t *testing.T) {
	for _, tc := range []struct {
		listen string
		host   string
		ok     bool
	}{
		{"mx1.example.net:8461", "mx1.example.net:8461", true},
		{"mx1.example.net:8461", "mx2.example.net:8461", false},
		{"192.0.2.10:8461", "192.0.2.10:8461", true},
		{"192.0.2.10:8461", "192.0.2.11:8461", false},
		{"0.0.0.0:8461", "192.0.2.11:8461", true},
		{":8461", "[2001:db8::1]:8461", true},
		{":8461", "rebind.attacker.example:8461", false},
		{"[::]:8461", "mx1.example.net", false},
	} {
		if got := newHosts(tc.listen, nil).ok(tc.host); got != tc.ok {
			t.Errorf("listening on %s, Host %s: ok %v, want %v", tc.listen, tc.host, got, tc.ok)
		}
	}
}

// TestCrossSite: a request a page of another site makes (Sec-Fetch-Site:
// cross-site, or an Origin other than the dashboard's) is refused with
// 403 before anything runs, even with the dashboard's own Host (a link or
// an image on another site pointing at http://127.0.0.1:8461/).
func TestCrossSite(t *testing.T) {
	srv, reviews := guarded(t, Options{})
	self := strings.TrimPrefix(srv.URL, "http://")
	for _, fields := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "cross-site", "Origin", srv.URL},
		{"Origin", "http://rebind.attacker.example"},
		{"Origin", "http://localhost:3000"},
		{"Origin", "null"},
		{"Origin", "%%"},
	} {
		if code, body := do(t, srv, "", "/api/v1/review", fields...); code != http.StatusForbidden || strings.Contains(body, "198.51.100.7") {
			t.Errorf("%v: %d %.80q, want 403", fields, code, body)
		}
	}
	if n := reviews.Load(); n != 0 {
		t.Errorf("the review ran %d times for refused requests", n)
	}
	for _, fields := range [][]string{
		{"Sec-Fetch-Site", "same-origin"},
		{"Sec-Fetch-Site", "none"},
		{"Sec-Fetch-Site", "same-origin", "Origin", "http://" + self},
	} {
		if code, _ := do(t, srv, "", "/api/v1/review", fields...); code != 200 {
			t.Errorf("%v: %d, want 200", fields, code)
		}
	}
}

// TestNoAssetListings: a folder under /assets/ is not found; no listing
// shows what is embedded.
func TestNoAssetListings(t *testing.T) {
	srv, _ := guarded(t, Options{})
	for _, path := range []string{"/assets/", "/assets/vendor/", "/assets/vendor", "/assets/vendor/uplot/", "/assets/vendor/uplot", "/assets//", "/assets/./"} {
		code, body := do(t, srv, "", path)
		if code != http.StatusNotFound || strings.Contains(body, "href") {
			t.Errorf("GET %s: %d %.80q, want 404", path, code, body)
		}
	}
	if code, _ := do(t, srv, "", "/assets/vendor/uplot/uPlot.iife.min.js"); code != 200 {
		t.Errorf("an asset: %d", code)
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{"Dash.Example.COM.": "dash.example.com", "mx1": "mx1", "192.0.2.1": "192.0.2.1",
		"[2001:DB8::1]": "2001:db8::1"} {
		if got, err := HostName(in); got != want || err != nil {
			t.Errorf("HostName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "*.example.com", "a b", "exa_mple.com", "-x.example", "x..example", "http://x.example", strings.Repeat("a", 64) + ".example"} {
		if _, err := HostName(bad); !errors.Is(err, ErrHostName) {
			t.Errorf("HostName(%q): %v, want ErrHostName", bad, err)
		}
	}
}
