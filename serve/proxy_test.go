package serve

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/report"
)

var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// TestClientOf: who the client is, from the peer and the proxy header.
func TestClientOf(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, tt := range []struct {
		name   string
		trust  []netip.Prefix
		header string // Options.ProxyHeader
		remote string
		hdr    map[string][]string
		key    string
		note   string
	}{
		{"no proxy trusted: header ignored", nil, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "127.0.0.1", ""},
		{"untrusted peer: header ignored", loopbackProxy, "", "192.0.2.9:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "192.0.2.9", ""},
		{"trusted proxy", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7", ""},
		{"client-written left part never read", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"203.0.113.1, garbage, 198.51.100.7"}}, "198.51.100.7", ""},
		{"trusted hops skipped", lan, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"203.0.113.1, 198.51.100.7, 10.1.2.3"}}, "198.51.100.7", ""},
		{"header lines joined", lan, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"203.0.113.1", "198.51.100.7, 10.1.2.3"}}, "198.51.100.7", ""},
		{"all trusted: leftmost", lan, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"10.9.9.9, 10.1.2.3"}}, "10.9.9.9", ""},
		{"with a port", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7:4711"}}, "198.51.100.7", ""},
		{"IPv6 keyed by /64", loopbackProxy, "", "[::1]:5", map[string][]string{"X-Forwarded-For": {"2001:db8:1:2:aaaa::7"}}, "2001:db8:1:2::/64", ""},
		{"IPv6 bracketed with port", loopbackProxy, "", "[::1]:5", map[string][]string{"X-Forwarded-For": {"[2001:db8:1:2::7]:80"}}, "2001:db8:1:2::/64", ""},
		{"IPv4-mapped", loopbackProxy, "", "[::ffff:127.0.0.1]:5", map[string][]string{"X-Forwarded-For": {"::ffff:198.51.100.7"}}, "198.51.100.7", ""},
		{"missing header: the peer", loopbackProxy, "", "127.0.0.1:5", nil, "127.0.0.1", "no X-Forwarded-For header from the trusted proxy"},
		{"malformed: the peer", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7, unknown"}}, "127.0.0.1", "malformed X-Forwarded-For header from the trusted proxy"},
		{"empty element: the peer", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7,"}}, "127.0.0.1", "malformed X-Forwarded-For header from the trusted proxy"},
		{"zone: the peer", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"fe80::1%eth0"}}, "127.0.0.1", "malformed X-Forwarded-For header from the trusted proxy"},
		{"Forwarded read when chosen", loopbackProxy, HeaderForwarded, "127.0.0.1:5", map[string][]string{"Forwarded": {`for=203.0.113.1, for=192.0.2.60;proto=https;by=203.0.113.43`}}, "192.0.2.60", ""},
		{"Forwarded IPv6 quoted", loopbackProxy, HeaderForwarded, "127.0.0.1:5", map[string][]string{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::/64", ""},
		{"Forwarded unknown: the peer", loopbackProxy, HeaderForwarded, "127.0.0.1:5", map[string][]string{"Forwarded": {"for=unknown"}}, "127.0.0.1", "malformed Forwarded header from the trusted proxy"},
		{"Forwarded without for: the peer", loopbackProxy, HeaderForwarded, "127.0.0.1:5", map[string][]string{"Forwarded": {"proto=https"}}, "127.0.0.1", "malformed Forwarded header from the trusted proxy"},
		{"Forwarded chosen: X-Forwarded-For ignored", loopbackProxy, HeaderForwarded, "127.0.0.1:5", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "127.0.0.1", "no Forwarded header from the trusted proxy"},
		{"X-Forwarded-For chosen: Forwarded ignored", loopbackProxy, "", "127.0.0.1:5", map[string][]string{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"198.51.100.8"}}, "198.51.100.8", ""},
		{"direct IPv6 peer keyed by /64", nil, "", "[2001:db8:5:6::99]:5", nil, "2001:db8:5:6::/64", ""},
		{"peer not an address", loopbackProxy, "", "@", nil, "@", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(&memRecorder{}, Options{TrustProxy: tt.trust, ProxyHeader: tt.header})
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.hdr {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			c := h.clientOf(r)
			if c.key != tt.key || c.note != tt.note {
				t.Errorf("client %q note %q, want %q note %q", c.key, c.note, tt.key, tt.note)
			}
		})
	}
}

// TestDirectClientCannotDodgeItsLimit attacks the per-client limit with
// X-Forwarded-For: a client that is not a trusted proxy sends a new
// address in the header with each request; its fourth request still gets
// 503, because the header of an untrusted peer is never read. The control
// trusts the attacker's address: then the header would dodge the limit.
func TestDirectClientCannotDodgeItsLimit(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	for _, tt := range []struct {
		name  string
		trust []netip.Prefix
		want  int
	}{
		{"proxy 127.0.0.1 trusted", loopbackProxy, http.StatusServiceUnavailable},
		{"control: the attacker trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}, http.StatusCreated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(&memRecorder{}, Options{MaxPerClient: 3, StoreWait: 300 * time.Millisecond, TrustProxy: tt.trust})
			srv := start(t, h, ServerOptions{})
			for i := range 3 {
				defer trickle(t, srv.addr, "127.0.0.9", fmt.Sprintf("X-Forwarded-For: 198.51.100.%d", i+1))()
			}
			waitFor(t, "3 bodies being read", func() bool { return len(h.reading) == 3 })
			if code := postFrom(t, srv.url, "127.0.0.9", body, "X-Forwarded-For: 198.51.100.99"); code != tt.want {
				t.Errorf("a fourth POST with a new X-Forwarded-For: %d, want %d", code, tt.want)
			}
		})
	}
}

// TestProxiedReportersApart: behind a reverse proxy every connection comes
// from 127.0.0.1. With the proxy trusted, a reporter whose uploads trickle
// takes its own share only: another reporter behind the same proxy is
// stored at once, while the trickler's next POST gets 503. The control
// trusts no proxy: then the trickler starves every reporter.
func TestProxiedReportersApart(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	for _, tt := range []struct {
		name         string
		trust        []netip.Prefix
		other, again int
	}{
		{"proxy trusted", loopbackProxy, http.StatusCreated, http.StatusServiceUnavailable},
		{"control: no proxy trusted", nil, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(&memRecorder{}, Options{MaxPerClient: 3, StoreWait: 300 * time.Millisecond, TrustProxy: tt.trust})
			srv := start(t, h, ServerOptions{})
			for range 3 {
				defer trickle(t, srv.addr, "127.0.0.1", "X-Forwarded-For: 203.0.113.5, 198.51.100.7")()
			}
			waitFor(t, "3 bodies being read", func() bool { return len(h.reading) == 3 })
			if code := postFrom(t, srv.url, "127.0.0.1", body, "X-Forwarded-For: 198.51.100.8"); code != tt.other {
				t.Errorf("another reporter through the proxy: %d, want %d", code, tt.other)
			}
			if code := postFrom(t, srv.url, "127.0.0.1", body, "X-Forwarded-For: 198.51.100.7"); code != tt.again {
				t.Errorf("the trickler's fourth POST: %d, want %d", code, tt.again)
			}
		})
	}
}

// TestIPv6SlashSixtyFour attacks the per-client limit with many addresses
// of one /64 (a host has them all): the fourth address of the /64 gets
// 503 like a fourth request of one address, while another /64 is served.
// The control keys by whole address: then every address is a new client.
func TestIPv6SlashSixtyFour(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	h := NewHandler(&memRecorder{}, Options{MaxPerClient: 3, StoreWait: 300 * time.Millisecond, TrustProxy: loopbackProxy})
	srv := start(t, h, ServerOptions{})
	for i := range 3 {
		defer trickle(t, srv.addr, "127.0.0.1", fmt.Sprintf("X-Forwarded-For: 2001:db8:1:2:%x::1", i+1))()
	}
	waitFor(t, "3 bodies being read", func() bool { return len(h.reading) == 3 })
	if code := postFrom(t, srv.url, "127.0.0.1", body, "X-Forwarded-For: 2001:db8:1:2:ffff:ffff:ffff:ffff"); code != http.StatusServiceUnavailable {
		t.Errorf("a fourth address of the /64: %d, want 503", code)
	}
	other := reporttest.Gzip(t, reporttest.WithReportID(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"], "another-64"))
	if code := postFrom(t, srv.url, "127.0.0.1", other, "X-Forwarded-For: 2001:db8:1:3::1"); code != http.StatusCreated {
		t.Errorf("another /64: %d, want 201", code)
	}
}

// entered counts the requests that reached the handler.
type entered struct {
	http.Handler
	n atomic.Int64
}

func (e *entered) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.n.Add(1)
	e.Handler.ServeHTTP(w, r)
}

// holdFirst stores through a real store, but its first store waits until
// hold returns.
type holdFirst struct {
	arrival.Recorder
	once sync.Once
	hold func()
}

func (h *holdFirst) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	h.once.Do(h.hold)
	return h.Recorder.AddReportResult(ctx, r, src)
}

// TestFiftyFromOneAddress: 50 small POSTs at once from one address, with
// the default limits and a real SQLite store, are all stored. The first
// store is held until all 50 are in, so that 42 of them find the
// client's 8 slots taken: they wait for a slot instead of getting 503
// (when a full client was answered 503 at once, 3 of 50 were refused and
// never stored, and with the store held all 42 were).
func TestFiftyFromOneAddress(t *testing.T) {
	const n = 50
	st := storetest.Open(t)
	rec := &holdFirst{Recorder: st}
	h := NewHandler(rec, Options{})
	in := &entered{Handler: h}
	rec.hold = func() { // in a handler's goroutine: no t.Fatal
		for deadline := time.Now().Add(testenv.Patience); in.n.Load() < n || h.clients.waiters() < n-DefaultMaxPerClient; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%d requests in, %d waiting for their client's slot; want %d and %d", in.n.Load(), h.clients.waiters(), n, n-DefaultMaxPerClient)
				return
			}
		}
	}
	srv := start(t, in, ServerOptions{})
	postAllStored(t, st, srv.url, "fifty", n)
}

// TestWaitingBounded: at most MaxReading requests wait for their client's
// slot; one more gets 503 at once, while the others still wait.
func TestWaitingBounded(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	h := NewHandler(&memRecorder{}, Options{MaxPerClient: 1, MaxReading: 2, StoreWait: time.Minute})
	srv := start(t, h, ServerOptions{})
	stop := trickle(t, srv.addr, "127.0.0.9")
	waitFor(t, "the trickler's body being read", func() bool { return len(h.reading) == 1 })
	var wg sync.WaitGroup
	codes := make([]int, 2)
	base := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	for i := range 2 {
		b := reporttest.Gzip(t, reporttest.WithReportID(t, base, fmt.Sprintf("waiter-%d", i)))
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = postFrom(t, srv.url, "127.0.0.9", b) }()
	}
	waitFor(t, "2 requests waiting", func() bool { return h.clients.waiters() == 2 })
	if code := postFrom(t, srv.url, "127.0.0.9", body); code != http.StatusServiceUnavailable {
		t.Errorf("a third waiter: %d, want 503", code)
	}
	if w := h.clients.waiters(); w != 2 {
		t.Errorf("%d waiting when the third was refused, want 2: it waited", w)
	}
	stop()
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Errorf("waiter %d: %d, want 201 once the trickler is gone", i, c)
		}
	}
}

// TestProxyLog: the log line names the client a trusted proxy's header
// gave, and says why a trusted proxy's header was not used.
func TestProxyLog(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&memRecorder{}, Options{TrustProxy: loopbackProxy, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for _, xff := range []string{"198.51.100.7", "bogus"} {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", xff)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " client=198.51.100.7 ") ||
		!strings.Contains(lines[1], `client_note="malformed X-Forwarded-For header from the trusted proxy"`) || strings.Contains(lines[1], " client=") {
		t.Errorf("log:\n%s", buf.String())
	}
}
